import{a as Ee,b as ye,d as ve,e as Te,f as Re}from"./chunk-4BH55WUJ.js";import{a as Ce,b as Se,c as qe,d as Me}from"./chunk-3AVCIUJF.js";import{a as ke,b as d,c as R,d as q,e as k,f as xe,g as a,h as oe,i as he,j as $e,k as ae,l as s,m as E,n as K,o as se,p as be,q as ge,r as re}from"./chunk-5XRXPPWO.js";import"./chunk-55A7VLQV.js";import"./chunk-WOT6VMZA.js";var we="relais";var W="meta",Q="records",Ae="wrap-key",De="user-key-salt",rt=new Set(["session"]),ct=new TextEncoder().encode("relais/web/vault/user-key/v1"),ce=class extends Error{constructor(){super("the vault is locked"),this.code="vault_locked"}};function H(n){return new Promise((e,t)=>{n.onsuccess=()=>e(n.result),n.onerror=()=>t(n.error)})}function lt(){let n=indexedDB.open(we,1);return n.onupgradeneeded=()=>{let e=n.result;e.objectStoreNames.contains(W)||e.createObjectStore(W),e.objectStoreNames.contains(Q)||e.createObjectStore(Q)},H(n)}function dt(n){return new TextEncoder().encode(JSON.stringify(n,(e,t)=>t instanceof Uint8Array?{$bytes:mt(t)}:t))}function ut(n){return JSON.parse(new TextDecoder().decode(n),(e,t)=>t&&typeof t=="object"&&typeof t.$bytes=="string"&&Object.keys(t).length===1?Oe(t.$bytes):t)}function mt(n){let e="";for(let t=0;t<n.length;t+=32768)e+=String.fromCharCode(...n.subarray(t,t+32768));return btoa(e)}function Oe(n){let e=atob(n),t=new Uint8Array(e.length);for(let i=0;i<e.length;i++)t[i]=e.charCodeAt(i);return t}async function pt(){return indexedDB.databases?(await indexedDB.databases()).some(n=>n.name===we):!0}var le=class n{constructor(e,t){this.db=e,this.key=t,this.userKey=null,this.wiped=!1}get locked(){return this.userKey===null}async unlock(e){await this.ensure();let t=await H(this.db.transaction(W).objectStore(W).get(De));t||(t=crypto.getRandomValues(new Uint8Array(32)),await H(this.db.transaction(W,"readwrite").objectStore(W).put(t,De)));let i=Oe(e.replace(/-/g,"+").replace(/_/g,"/"));if(i.length!==32)throw new Error("bad vault key");let o=await crypto.subtle.importKey("raw",i,"HKDF",!1,["deriveKey"]);this.userKey=await crypto.subtle.deriveKey({name:"HKDF",hash:"SHA-256",salt:t,info:ct},o,{name:"AES-GCM",length:256},!1,["encrypt","decrypt"])}lock(){this.userKey=null}_keyFor(e){if(rt.has(e))return this.key;if(!this.userKey)throw new ce;return this.userKey}static async open(){return await pt()?n.create():new n(null,null)}static async create(){let e=await lt(),t=await H(e.transaction(W).objectStore(W).get(Ae));return t||(t=await crypto.subtle.generateKey({name:"AES-GCM",length:256},!1,["encrypt","decrypt"]),await H(e.transaction(W,"readwrite").objectStore(W).put(t,Ae))),new n(e,t)}async ensure(){if(this.wiped)throw new ce;if(!this.db){let e=await n.create();this.db=e.db,this.key=e.key}}async put(e,t){await this.ensure();let i=crypto.getRandomValues(new Uint8Array(12)),o=new TextEncoder().encode(`relais/web/vault/${e}`),r=new Uint8Array(await crypto.subtle.encrypt({name:"AES-GCM",iv:i,additionalData:o},this._keyFor(e),dt(t)));await H(this.db.transaction(Q,"readwrite").objectStore(Q).put({iv:i,ct:r},e))}async get(e){if(!this.db)return;let t=this._keyFor(e),i=await H(this.db.transaction(Q).objectStore(Q).get(e));if(!i)return;let o=new TextEncoder().encode(`relais/web/vault/${e}`);try{let r=await crypto.subtle.decrypt({name:"AES-GCM",iv:i.iv,additionalData:o},t,i.ct);return ut(new Uint8Array(r))}catch{await this.delete(e);return}}async delete(e){this.db&&await H(this.db.transaction(Q,"readwrite").objectStore(Q).delete(e))}async names(){return this.db?H(this.db.transaction(Q).objectStore(Q).getAllKeys()):[]}async wipe(e=!0){this.wiped=e,this.db?.close(),this.db=null,this.key=null,this.userKey=null,await H(indexedDB.deleteDatabase(we))}};var te="session",ie=class n{constructor(e,t,i){this.vault=e,this.api=t,this.record=i}get userId(){return this.record.user_id}get deviceId(){return this.record.device_id}get token(){return this.record.token}static async resume(e,t=new ge){let i=await e.get(te);if(!i?.token)return null;t.token=i.token;try{let o=await t.get("/api/v1/me"),r=new n(e,t,{...i,...o});return await r.unlock(),r}catch(o){return o.code==="unauthorized"?(t.token=null,await e.put(te,{device_id:i.device_id,user_id:i.user_id}),null):new n(e,t,i)}}static async login(e,{username:t,password:i,totp:o},r=new ge){let c=await e.get(te)||{},l={username:t,password:i,device_name:ft()};o&&(l.totp=o),c.device_id&&(l.device_id=c.device_id);let u;try{u=await r.post("/api/v1/auth/login",l)}catch(m){if(m.code!=="not_found"||!l.device_id)throw m;delete l.device_id,u=await r.post("/api/v1/auth/login",l)}c.user_id&&(c.user_id!==u.user_id||c.device_id!==u.device_id)&&await e.wipe(!1),r.token=u.token;let g=await r.get("/api/v1/me"),$={...u,...g},p=new n(e,r,$);return await p.unlock(),await e.put(te,$),p}async unlock(){let{key:e}=await this.api.post("/api/v1/auth/vault-key");await this.vault.unlock(e)}async signOut(){try{await this.api.post("/api/v1/auth/logout")}catch{}this.api.token=null,await this.vault.put(te,{device_id:this.deviceId,user_id:this.userId}),this.vault.lock()}async endedElsewhere(){this.api.token=null,await this.vault.put(te,{device_id:this.deviceId,user_id:this.userId}),this.vault.lock()}async forgetDevice(e=null){let t=!1;if(e)try{await e(),t=!0}catch{}if(!t)try{await this.api.delete(`/api/v1/devices/${encodeURIComponent(this.deviceId)}`)}catch{}try{await this.api.post("/api/v1/auth/logout")}catch{}this.api.token=null,await this.vault.wipe()}};function ft(){let n=navigator.userAgent,e=/Firefox\//.test(n)?"Firefox":/Edg\//.test(n)?"Edge":/Chrom/.test(n)?"Chrome":/Safari\//.test(n)?"Safari":"Browser",t=/Windows/.test(n)?"Windows":/Android/.test(n)?"Android":/iPhone|iPad/.test(n)?"iOS":/Mac OS/.test(n)?"macOS":/Linux/.test(n)?"Linux":"";return`${e}${t?" · "+t:""}`.slice(0,200)}var Le="outbox",ht=new Set(["offline","not_connected","send_failed","unavailable","rate_limited","internal"]),de=class extends re{constructor(e,t){super(),this.vault=e,this.send=t,this.items=[],this.sending=null,this._draining=!1}async load(){this.items=await this.vault.get(Le)||[]}async _save(){await this.vault.put(Le,this.items)}async add(e,t){let i=`web-${crypto.randomUUID()}`;return this.items.push({id:i,room_id:e,content:t,ts:Date.now()}),await this._save(),this.emit("changed",e),this.drain(),i}forRoom(e){return this.items.filter(t=>t.room_id===e)}async drain(){if(this._draining)return;this._draining=!0;let e=null;try{for(;;){let t=this.items.find(i=>!i.failed);if(!t)break;e=t.room_id,this.sending=t.id,this.emit("changed",t.room_id);try{await this.send(t)}catch(i){if(ht.has(i?.code))break;t.failed=i?.code||"unknown"}t.failed||(this.items=this.items.filter(i=>i!==t)),await this._save(),this.emit("changed",t.room_id)}}finally{this.sending=null,this._draining=!1,e&&this.emit("changed",e)}}async discard(e){let t=this.items.find(i=>i.id===e);this.items=this.items.filter(i=>i.id!==e),await this._save(),t&&this.emit("changed",t.room_id)}};function $t(n){return{load:e=>n.get(e),save:(e,t)=>n.put(e,t),delete:e=>n.delete(e)}}function bt(n,e,t,i){return new Promise((o,r)=>{let c=new XMLHttpRequest;c.open("POST",`${n.baseUrl}/api/v1/rooms/${encodeURIComponent(e)}/attachments`),c.setRequestHeader("Authorization",`Bearer ${n.token}`),c.setRequestHeader("Content-Type","application/octet-stream"),c.responseType="json",c.upload.onprogress=l=>l.lengthComputable&&i(l.loaded/l.total),c.onload=()=>{let l=c.response||{};c.status>=200&&c.status<300?o(l):r(new se(l.error?.code||"internal",l.error?.message||`HTTP ${c.status}`,l.error?.details||{},c.status))},c.onerror=()=>r(new se(be,"upload failed")),c.send(t)})}function gt(n){return`relais-approve:${btoa(JSON.stringify(n))}`}function yt(n){let e=()=>new se("bad_code","not an approval code"),t=/^relais-approve:([A-Za-z0-9+/=]+)$/.exec(String(n).trim());if(!t)throw e();let i;try{i=JSON.parse(atob(t[1]))}catch{throw e()}let o=["user","device","sign","dh"];if(!i||typeof i!="object"||Object.keys(i).length!==4||!o.every(r=>typeof i[r]=="string"))throw e();return i}var ue=class n extends re{constructor(e,t,i,o){super(),this.session=e,this.sdk=t,this.e2ee=i,this.outbox=o,this.names=new Map,this.rooms=[],this.canConsult=["clinician","admin"].includes(e.record.role),this.connected=!1}static async open(e){let t=new Ce(location.origin,{transports:["websocket","polling"],reconnectionDelay:1e3,reconnectionDelayMax:3e4});t.useSession(e.token,e.userId,e.deviceId);let i=await Se.open(t,{storage:$t(e.vault)}),o,r=new de(e.vault,c=>o._sendQueued(c));return o=new n(e,t,i,r),await r.load(),o._wire(),o}get userId(){return this.sdk.userId}_wire(){let e=this.e2ee;e.on("message",t=>{let i=t.sender_user;i&&i!==this.userId&&!this.names.has(i)&&this.learnName(i,t.room_id),this.emit("timeline",t.room_id),this.emit("rooms")}),e.on("identity",t=>this.emit("identity",t)),e.on("room_changed",t=>{this.emit("room",t.room_id),this.emit("rooms")}),this.outbox.on("changed",t=>this.emit("timeline",t)),this.sdk.on("connect",()=>{this.connected=!0,this.emit("connection",!0),this.emit("rooms"),this.outbox.drain()}),this.sdk.on("disconnect",t=>{this.connected=!1,this.emit("connection",!1),t==="io server disconnect"&&this._checkSession()}),this.sdk.on("event",(t,i)=>{(t==="typing"||t==="receipt"||t==="presence")&&this.emit(t,i),(t==="receipt"||t==="room.member")&&this.emit("rooms"),t.startsWith("consult.")&&this.emit("consult",t,i)})}async _checkSession(){if(!this._closed){try{await this.sdk.request("GET","/api/v1/me")}catch(e){if(e?.code==="unauthorized"){this.emit("ended");return}}!this.sdk.connected&&!this._closed&&this.connect().catch(e=>e?.code==="unauthorized"&&this.emit("ended"))}}async deviceStatus(){return this.e2ee.hasIdentity?"ready":(await this.sdk.queryKeys([this.userId]))[this.userId]?.identity_key?"new_device":"first_device"}connect(){return this._connecting??=this._connectLoop().finally(()=>this._connecting=null),this._connecting}async _connectLoop(){let e=1e3;for(;!this._closed;)try{await this.e2ee.connect(),this.connected=!0,this.emit("connection",!0),this.emit("rooms"),this.outbox.drain();return}catch(t){if(t?.code==="unauthorized")throw t;this.emit("connection",!1),await new Promise(i=>setTimeout(i,e)),e=Math.min(e*2,3e4)}}async close(){this._closed=!0,await this.e2ee.close()}async bootstrap(e,t=()=>{}){await this.e2ee.bootstrap(e||null,{onProgress:t})}async startNewDevice(){return gt(await this.e2ee.startNewDevice())}whenApproved(e){let t=!1,i=()=>{!t&&this.e2ee.hasIdentity&&(t=!0,e())},o=this.e2ee.on("identity",i);return this.connect().catch(()=>{}),i(),()=>{t=!0,o()}}async restore(e,t=()=>{}){await this.e2ee.restoreFromBackup(e,{onProgress:t})}async approveDevice(e){await this.e2ee.approveDevice(yt(e))}async devices(){let{sessions:e}=await this.sdk.request("GET","/api/v1/auth/sessions");await this.e2ee.directory.ensure([this.userId]).catch(()=>{});let t=new Set((this.e2ee.directory.lists.get(this.userId)?.devices||[]).map(o=>o.id)),i=new Map;for(let o of e){let r=i.get(o.device_id);(!r||o.created_at>r.created_at)&&i.set(o.device_id,o)}return[...i.values()].filter(o=>t.has(o.device_id)||e.some(r=>r.device_id===o.device_id&&r.active)).map(o=>({device_id:o.device_id,name:o.device_name,short_id:o.device_id.replace(/^d_/,"").slice(0,6),signed_in_at:o.created_at,last_seen_at:o.last_seen_at||o.created_at,current:o.device_id===this.session.deviceId})).sort((o,r)=>o.signed_in_at-r.signed_in_at)}async revokeDevice(e){await this.e2ee.revokeDevice(e)}async verificationFacts(e){return await this.e2ee.directory.ensure([e,this.userId]),this.e2ee.verificationFacts(e)}async markVerified(e){this.e2ee.markVerified(e),await this.e2ee.save()}trustOf(e){return this.e2ee.trustState(e)}whenConnected(){return this.connected?Promise.resolve():new Promise(e=>{let t=this.on("connection",i=>i&&(t(),e()))})}nameOf(e){return this.names.get(e)||s("people.unknown")}_learn(e){let t=!1;for(let i of e||[]){let o=i.display_name||i.username;o&&this.names.get(i.user_id)!==o&&(this.names.set(i.user_id,o),t=!0)}t&&this.emit("names")}learnName(e,t=null){if(this.names.has(e))return Promise.resolve(this.names.get(e));this._learning??=new Map,this._looked??=new Set;let i=t||"*";if(this._looked.has(`${i} ${e}`)&&!this._learning.has(i))return Promise.resolve(null);if(this._looked.add(`${i} ${e}`),!this._learning.has(i)){let o=async()=>t?[t]:(this.rooms.length?this.rooms:await this.listRooms()).map(c=>c.room_id),r=(async()=>{await this.whenConnected();for(let c of await o())if(await this.room(c),this.names.has(e))return})().catch(()=>{}).finally(()=>this._learning.delete(i));this._learning.set(i,r)}return this._learning.get(i).then(()=>this.names.get(e)||null)}async listRooms(){if(!this.sdk.connected)return this._localRooms();let{rooms:e}=await this.sdk.call("room.list");return this.rooms=e,e.map(t=>({...t,unread:Math.max(0,t.last_seq-t.read_seq),title:this.titleOf(t.room_id)}))}_localRooms(){let e=new Map;for(let t of this.e2ee.records.values()){let i=e.get(t.room_id);(!i||t.seq>i.seq)&&e.set(t.room_id,t)}return[...e.values()].map(t=>({room_id:t.room_id,last_seq:t.seq,read_seq:t.seq,last_activity_at:t.ts||0,unread:0,title:this.titleOf(t.room_id)}))}async room(e){let t=await this.sdk.call("room.get",{room_id:e});return this._learn(t.members),t}titleOf(e){let t=this.e2ee.messages(e).filter(o=>o.state==="decrypted"&&o.content?.type==="room.title"),i=t[t.length-1];return i?String(i.content.title||"").slice(0,200):null}roomTitle(e){return this.titleOf(e.room_id)||s("rooms.untitled",{id:e.room_id.slice(2,8)})}async createRoom(e){let t=await this.e2ee.createRoom(null);return e&&await this.e2ee.sendContent(t,{type:"room.title",title:e}),this.emit("rooms"),t}async receipts(e){return(await this.sdk.call("receipts.get",{room_id:e})).receipts}async markRead(e,t){try{await this.sdk.call("receipt.read",{room_id:e,seq:t}),this.emit("rooms")}catch{}}typing(e,t){this.sdk.call("typing",{room_id:e,typing:t}).catch(()=>{})}async presence(e){return(await this.sdk.call("presence.get",{user_ids:e.slice(0,200)})).presence}async searchPeople(e){let{people:t}=await this.sdk.request("GET",`/api/v1/people?q=${encodeURIComponent(e)}`);return this._learn(t),t}async addMember(e,t,{roomRole:i="member",consentMethod:o=null}={}){let r=null;o&&(r=(await this.sdk.request("POST",`/api/v1/rooms/${encodeURIComponent(e.room_id)}/consents`,{subject_user_id:t,method:o})).consent_id),await this.e2ee.addMember(e.room_id,t,{roomRole:i,consentId:r}),this.emit("room",e.room_id)}async removeMember(e,t){await this.e2ee.removeMember(e,t),this.emit("room",e)}timeline(e){let t=this.e2ee.messages(e),i=new Set;for(let r of t)r.sender_device===this.sdk.deviceId&&r.client_msg_id&&i.add(r.client_msg_id.replace(/\.\d+$/,""));let o=this.outbox.forRoom(e).filter(r=>!i.has(r.id)).map(r=>({id:r.id,pending:!0,sending:this.outbox.sending===r.id,failed:r.failed||null,sender_user:this.userId,ts:r.ts,content:r.content}));return[...t,...o]}async queueText(e,t){await this.outbox.add(e,{type:"text",body:t})}async _sendQueued(e){if(!this.sdk.connected)throw new se(be,"offline");await this.e2ee.sendContent(e.room_id,e.content,{clientMsgId:e.id})}async sendFile(e,t,i=()=>{}){let o=new Uint8Array(await t.arrayBuffer()),r=this.sdk,c=r.uploadAttachment;r.uploadAttachment=(l,u)=>bt(r,l,u,i);try{return await this.e2ee.sendFile(e,o,{name:t.name,mime:t.type||"application/octet-stream"})}finally{r.uploadAttachment=c}}async downloadFile(e){return this.e2ee.downloadFile(e)}async startConsultation(e,t,i){let o=await this.sdk.request("POST","/api/v1/consultations",{room_id:e}),r=await this.sdk.request("POST",`/api/v1/consultations/${encodeURIComponent(o.consultation_id)}/links`,{display_name:t,with_code:i});return{...o,link:new URL(r.url,location.origin).href,code:r.code,expires_at:r.expires_at}}async openConsultations(e){let{consultations:t}=await this.sdk.request("GET","/api/v1/consultations");return t.filter(i=>i.role==="host"&&i.status==="open"&&(e?i.room_id===e:i.assisted&&!i.room_id))}async consultation(e){return this.sdk.request("GET",`/api/v1/consultations/${encodeURIComponent(e)}`)}async joinConsultation(e){return this.sdk.call("consult.join",{consultation_id:e})}async admit(e,t){return this.sdk.call("consult.admit",{consultation_id:e,participant_id:t})}async deny(e,t){return this.sdk.call("consult.deny",{consultation_id:e,participant_id:t})}async endConsultation(e){return this.sdk.call("consult.end",{consultation_id:e})}mediaSignal(){return{call:(e,t,i)=>this.sdk.call(e,t,i),subscribe:e=>this.on("consult",e)}}async findClinicians(e){let{people:t}=await this.sdk.request("GET",`/api/v1/people?q=${encodeURIComponent(e)}`);return t.filter(i=>i.role==="clinician")}async openAssisted(e){return this.sdk.request("POST","/api/v1/consultations/assisted",e)}async openAssistedSessions(){let{consultations:e}=await this.sdk.request("GET","/api/v1/consultations");return e.filter(t=>t.assisted&&t.role==="assistant"&&t.status==="open"&&["waiting","admitted"].includes(t.state))}async leaveLeftover(e){let t=(await this.consultation(e)).chat_room_id;await this.forgetRoom(t),await this.leaveConsultation(e),await this.leaveRoomIfMember(t),await this.forgetRoom(t)}async leaveRoomIfMember(e){if(!e)return;let{rooms:t}=await this.sdk.call("room.list");if(t.some(i=>i.room_id===e))try{await this.sdk.request("DELETE",`/api/v1/rooms/${encodeURIComponent(e)}/members/${encodeURIComponent(this.userId)}`,{})}catch(i){if(i?.code!=="conflict")throw i;await this.e2ee.removeMember(e,this.userId)}}async leaveConsultation(e){return this.sdk.call("consult.leave",{consultation_id:e})}async forgetRoom(e){if(e){if(!this.forgotten){this.forgotten=new Set;let t=this.sdk,i=t.onEvent,o=t.onMessage,r=c=>c&&this.forgotten.has(c.room_id);t.onEvent=(c,l)=>r(l)?void 0:i?.(c,l),t.onMessage=c=>r(c)?void 0:o?.(c),this.e2ee.on("message",c=>r(c)&&this._forget(c.room_id))}this.forgotten.add(e),await this._forget(e)}}async _forget(e){let t=this.e2ee.state,i=this.sdk.inbox,o=c=>c===e||typeof c=="string"&&c.startsWith("[")&&JSON.parse(c)[0]===e;for(let[c,l]of[...t.records])l.room_id===e&&(t.records.delete(c),i.seen.delete(c));for(let c of i.messages[e]||[])i.seen.delete(c.id);delete i.since[e],delete i.messages[e],delete i.ahead[e];let r=t.chains;for(let c of[t.outbound,t.inbound,t.waiting,t.requested,t.order,r.states,r.events,r.frozen,r._joinedAt,this.e2ee.sender.revocationsAt])for(let l of[...c.keys()])o(l)&&c.delete(l);for(let c of[t.inbound_forwarded,r.rejoined,r.dirty])for(let l of[...c])o(l)&&c.delete(l);r.warnings=r.warnings.filter(c=>c.room!==e&&c.room_id!==e),await this.e2ee.save()}};function Ue({onSignIn:n,initialError:e=""}){let[t,i]=d(""),[o,r]=d(""),[c,l]=d(""),[u,g]=d(!1),[$,p]=d(!1),[m,h]=d(e),v=k(null),w=k(null);q(()=>v.current?.focus(),[]),q(()=>{m&&w.current?.focus()},[m]);async function f(C){if(C.preventDefault(),!$){p(!0),h("");try{await n({username:t.trim(),password:o,totp:u&&c?c:void 0})}catch(y){if(y.code==="account_locked"){let _=Math.max(1,Math.ceil((y.details?.retry_after_ms||6e4)/6e4));h(s("signin.locked",{minutes:_}))}else y.code==="invalid_credentials"?(h(s("signin.failed")),g(!0)):h(E(y.code));p(!1)}}}return a`
    <main id="main" class="signin" tabindex="-1">
      <h1>${s("signin.title")}</h1>
      <p>${s("signin.intro")}</p>
      <form onSubmit=${f} novalidate>
        ${m&&a`<p class="error" role="alert" tabindex="-1" ref=${w} id="signin-error">${m}</p>`}
        <label for="signin-username">${s("signin.username")}</label>
        <input
          id="signin-username"
          name="username"
          ref=${v}
          autocomplete="username"
          autocapitalize="none"
          spellcheck=${!1}
          required
          value=${t}
          onInput=${C=>i(C.currentTarget.value)}
        />
        <label for="signin-password">${s("signin.password")}</label>
        <input
          id="signin-password"
          name="password"
          type="password"
          autocomplete="current-password"
          required
          value=${o}
          onInput=${C=>r(C.currentTarget.value)}
        />
        <div class="check">
          <input id="signin-usecode" type="checkbox" checked=${u} onChange=${C=>g(C.currentTarget.checked)} />
          <label for="signin-usecode">${s("signin.totp_toggle")}</label>
        </div>
        ${u&&a`<label for="signin-totp">${s("signin.totp")}</label>
          <p class="hint" id="signin-totp-hint">${s("signin.totp_hint")}</p>
          <input
            id="signin-totp"
            name="totp"
            inputmode="numeric"
            autocomplete="one-time-code"
            pattern="[0-9]{6}"
            maxlength="6"
            aria-describedby="signin-totp-hint"
            value=${c}
            onInput=${C=>l(C.currentTarget.value.replace(/\D/g,""))}
          />`}
        <button type="submit" class="primary" disabled=${$} aria-busy=${$?"true":"false"}>
          ${$?s("signin.busy"):s("signin.submit")}
        </button>
      </form>
    </main>
  `}async function vt(n){let{default:e}=await import("./qrcode-VZ7J5ZJR.js"),t=e(0,"M");t.addData(n),t.make();let i=t.getModuleCount(),o=4,r="";for(let u=0;u<i;u++)for(let g=0;g<i;g++)t.isDark(u,g)&&(r+=`M${g+o} ${u+o}h1v1h-1z`);let c=i+2*o,l=`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${c} ${c}" shape-rendering="crispEdges"><rect width="100%" height="100%" fill="#fff"/><path d="${r}" fill="#000"/></svg>`;return`data:image/svg+xml;charset=utf-8,${encodeURIComponent(l)}`}function me({text:n,label:e}){let[t,i]=d("");return R(()=>{let o=!0;return vt(n).then(r=>o&&i(r)),()=>{o=!1}},[n]),t?a`<img class="qr" src=${t} alt=${e} width="220" height="220" />`:null}var Ne=12;function wt({value:n,label:e}){return a`<div class="progress" role="status">
    <label for="kdf-progress">${e}</label>
    <progress id="kdf-progress" max="1" value=${n}></progress>
    <span>${Math.round(n*100)} %</span>
  </div>`}function je({confirmField:n,submitLabel:e,onSubmit:t,busyLabel:i}){let[o,r]=d(""),[c,l]=d(""),[u,g]=d(null),[$,p]=d(""),m=k(null);q(()=>m.current?.focus(),[]);async function h(v){if(v.preventDefault(),p(""),n&&o.length<Ne)return p(s("setup.too_short",{n:Ne}));if(n&&o!==c)return p(s("setup.mismatch"));g(0);try{await t(o,w=>g(w))}catch(w){g(null),p(w.code==="bad_ciphertext"||w.code==="bad_passphrase"?s("setup.wrong_passphrase"):E(w.code))}}return a`<form onSubmit=${h}>
    ${$&&a`<p class="error" role="alert">${$}</p>`}
    <label for="setup-pass">${s("setup.passphrase")}</label>
    <input id="setup-pass" ref=${m} type="password" autocomplete=${n?"new-password":"current-password"} value=${o} onInput=${v=>r(v.currentTarget.value)} />
    ${n&&a`<label for="setup-again">${s("setup.passphrase_again")}</label>
      <input id="setup-again" type="password" autocomplete="new-password" value=${c} onInput=${v=>l(v.currentTarget.value)} />`}
    ${u!==null&&a`<${wt} value=${u} label=${i} />`}
    <button type="submit" class="primary" disabled=${u!==null}>${e}</button>
  </form>`}function Ie({app:n,status:e,onReady:t}){let[i,o]=d("approve"),[r,c]=d(""),[l,u]=d(""),g=k(null);return q(()=>{let $=document.activeElement;(!$||$===document.body)&&g.current?.focus()},[e]),R(()=>{if(e==="new_device")return n.startNewDevice().then(c,()=>{}),n.whenApproved(t)},[e]),e==="first_device"?a`<main id="main" class="setup" tabindex="-1">
      <h1 tabindex="-1" ref=${g}>${s("setup.first_title")}</h1>
      <p>${s("setup.first_intro")}</p>
      <${je}
        confirmField=${!0}
        submitLabel=${s("setup.first_submit")}
        busyLabel=${s("setup.protecting")}
        onSubmit=${async($,p)=>{await n.bootstrap($,p),t()}}
      />
      <p class="hint">${s("setup.skip_hint")}</p>
      ${l&&a`<p class="error" role="alert">${l}</p>`}
      <button type="button" onClick=${()=>n.bootstrap(null).then(t,$=>u(E($.code)))}>${s("setup.skip")}</button>
    </main>`:a`<main id="main" class="setup" tabindex="-1">
    <h1 tabindex="-1" ref=${g}>${s("setup.new_title")}</h1>
    <p>${s("setup.new_intro")}</p>
    <div role="group" aria-label=${s("setup.new_how")} class="row">
      <button type="button" aria-pressed=${i==="approve"} onClick=${()=>o("approve")}>${s("setup.by_other_device")}</button>
      <button type="button" aria-pressed=${i==="restore"} onClick=${()=>o("restore")}>${s("setup.by_passphrase")}</button>
    </div>
    ${i==="approve"?a`<section aria-labelledby="approve-title">
          <h2 id="approve-title">${s("setup.by_other_device")}</h2>
          <p>${s("setup.approve_steps")}</p>
          ${r&&a`<${me} text=${r} label=${s("setup.code_qr")} />`}
          <label for="approval-code">${s("setup.code_text")}</label>
          <textarea id="approval-code" readonly rows="3" value=${r}></textarea>
          <p role="status">${s("setup.waiting_approval")}</p>
        </section>`:a`<section aria-labelledby="restore-title">
          <h2 id="restore-title">${s("setup.by_passphrase")}</h2>
          <${je}
            confirmField=${!1}
            submitLabel=${s("setup.restore_submit")}
            busyLabel=${s("setup.unlocking")}
            onSubmit=${async($,p)=>{await n.restore($,p),t()}}
          />
        </section>`}
  </main>`}var _t=8*1024*1024;function kt(n){return n<1e3?s("size.bytes",{n}):n<1e6?s("size.kb",{n:Math.round(n/100)/10}):s("size.mb",{n:Math.round(n/1e5)/10})}function xt(n){let e=`message.failed.${n}`,t=s(e);return t===e?s("message.failed.other"):t}function Ct({content:n,app:e}){let[t,i]=d(null),[o,r]=d(""),[c,l]=d(!1),u=/^image\/(png|jpeg|gif|webp)$/.test(n.mime||"");async function g(){let p=await e.downloadFile(n);return new Blob([p],{type:n.mime||"application/octet-stream"})}R(()=>{if(!u||n.size>_t)return;let p=null,m=!0;return g().then(h=>{m&&(p=URL.createObjectURL(h),i(p))}).catch(()=>m&&r(s("file.unreadable"))),()=>{m=!1,p&&URL.revokeObjectURL(p)}},[n.attachment_id]);async function $(){l(!0),r("");try{let p=await g(),m=document.createElement("a");m.href=URL.createObjectURL(p),m.download=String(n.name||"document"),document.body.append(m),m.click(),m.remove(),setTimeout(()=>URL.revokeObjectURL(m.href),1e4)}catch{r(s("file.unreadable"))}finally{l(!1)}}return a`<div class="file">
    ${t&&a`<img src=${t} alt=${s("file.preview_of",{name:n.name||""})} />`}
    <p>
      <span class="file-name">${n.name||s("file.unnamed")}</span>
      <span class="file-size"> · ${kt(Number(n.size)||0)}</span>
    </p>
    <button type="button" onClick=${$} disabled=${c}>
      ${c?s("file.decrypting"):s("file.download",{name:n.name||""})}
    </button>
    ${o&&a`<p class="error" role="alert">${o}</p>`}
  </div>`}function St({item:n,app:e}){if(n.pending&&n.failed)return a`<p class="body">${n.content.body}</p>
      <p class="state failed">${s("outbox.failed")}</p>
      <button type="button" onClick=${()=>e.outbox.discard(n.id)}>${s("outbox.discard")}</button>`;if(n.pending)return a`<p class="body">${n.content.type==="file"?n.content.name:n.content.body}</p>`;if(n.state==="waiting_for_key")return a`<p class="body state">${s("message.waiting")}</p>`;if(n.state==="failed")return a`<p class="body state failed">${xt(n.error)}</p>`;let t=n.content||{};return t.type==="text"?a`<p class="body">${String(t.body??"")}</p>`:t.type==="file"?a`<${Ct} content=${t} app=${e} />`:t.type==="room.title"?a`<p class="body state">${s("room.titled",{title:String(t.title??"")})}</p>`:a`<p class="body state">${s("message.unsupported")}</p>`}function Pe({item:n,app:e,readers:t,mine:i}){let o=i?s("message.me"):e.nameOf(n.sender_user);return a`<li class=${`message${i?" mine":""}${n.pending?" pending":""}`}>
    <p class="meta">
      <span class="sender">${o}</span>
      ${n.ts&&a` <time datetime=${new Date(n.ts).toISOString()}>${K(n.ts)}</time>`}
      ${n.pending&&a` <span class="status">${n.sending?s("outbox.sending"):s("outbox.pending")}</span>`}
    </p>
    <${St} item=${n} app=${e} />
    ${t.length>0&&a`<p class="readers">${s("receipts.read_by",{names:t.join(", ")})}</p>`}
  </li>`}var Et=3e3,Tt=4e3;function ze({app:n,roomId:e}){let[t,i]=d(""),[o,r]=d(null),[c,l]=d(""),u=k({sentAt:0,idle:0}),g=k(null);function $(){let w=Date.now();w-u.current.sentAt>Et&&(u.current.sentAt=w,n.typing(e,!0)),clearTimeout(u.current.idle),u.current.idle=setTimeout(p,Tt)}function p(){clearTimeout(u.current.idle),u.current.sentAt&&n.typing(e,!1),u.current.sentAt=0}async function m(w){w?.preventDefault();let f=t.trim();if(f){i(""),p();try{await n.queueText(e,f)}catch(C){i(f),l(E(C.code))}}}function h(w){w.key==="Enter"&&!w.shiftKey&&!w.isComposing&&m(w)}async function v(w){let f=w.currentTarget.files?.[0];if(w.currentTarget.value="",!!f){l(""),r({name:f.name,done:0});try{await n.sendFile(e,f,C=>r({name:f.name,done:C}))}catch(C){l(E(C.code))}finally{r(null)}}}return a`<form class="composer" onSubmit=${m}>
    ${c&&a`<p class="error" role="alert">${c}</p>`}
    ${o&&a`<div class="upload" role="status">
      <label for="upload-progress">${s("file.uploading",{name:o.name})}</label>
      <progress id="upload-progress" max="1" value=${o.done}></progress>
    </div>`}
    <label for="composer-text">${s("composer.label")}</label>
    <div class="composer-row">
      <textarea id="composer-text" rows="2" value=${t} aria-describedby="composer-hint" onInput=${w=>(i(w.currentTarget.value),$())} onKeyDown=${h} onBlur=${p}></textarea>
      <button type="submit" class="primary">${s("composer.send")}</button>
    </div>
    <p id="composer-hint" class="hint">${s("composer.hint")}</p>
    <input ref=${g} id="composer-file" type="file" class="visually-hidden" accept="image/*,application/pdf" onChange=${v} />
    <label for="composer-file" class="button-like">${s("composer.attach")}</label>
  </form>`}var Be=new Set(["clinician","admin"]);function Rt({app:n,room:e,onDone:t,onCancel:i}){let[o,r]=d(""),[c,l]=d(null),[u,g]=d(null),[$,p]=d("member"),[m,h]=d(""),[v,w]=d(!1),[f,C]=d(""),y=k(null),_=k(null);q(()=>y.current?.focus(),[]),q(()=>{u&&_.current?.focus()},[u]);async function T(A){A.preventDefault(),C("");try{let b=await n.searchPeople(o.trim()),I=new Set(e.members.map(B=>B.user_id));l(b.filter(B=>!I.has(B.user_id)))}catch(b){C(E(b.code))}}let D=u&&!Be.has(u.role)&&u.user_id!==e.patient_user_id;async function M(A){A.preventDefault(),w(!0),C("");try{await n.addMember(e,u.user_id,{roomRole:$,consentMethod:D?m:null}),t(s("members.added",{name:u.display_name||u.username}))}catch(b){C(b.code==="consent_required"?s("members.consent_needed"):E(b.code)),w(!1)}}if(u){let A=u.display_name||u.username;return a`<form class="add-member" onSubmit=${M}>
      <h3 tabindex="-1" ref=${_}>${s("members.add_who",{name:A})}</h3>
      ${f&&a`<p class="error" role="alert">${f}</p>`}
      ${Be.has(u.role)&&a`<fieldset>
        <legend>${s("members.room_role")}</legend>
        ${["member","owner"].map(b=>a`<div class="check">
            <input type="radio" id=${`role-${b}`} name="room_role" value=${b} checked=${$===b} onChange=${()=>p(b)} />
            <label for=${`role-${b}`}>${s(`room_role.${b}`)}</label>
          </div>`)}
      </fieldset>`}
      ${D&&!e.patient_user_id&&a`<p class="hint" id="no-patient">${s("members.no_patient")}</p>`}
      ${D&&e.patient_user_id&&a`<fieldset>
        <legend>${s("members.consent_question")}</legend>
        <p class="hint">${s("members.consent_hint")}</p>
        ${["verbal","written"].map(b=>a`<div class="check">
            <input type="radio" id=${`consent-${b}`} name="consent" value=${b} required checked=${m===b} onChange=${()=>h(b)} />
            <label for=${`consent-${b}`}>${s(`consent.${b}`)}</label>
          </div>`)}
      </fieldset>`}
      <div class="row">
        <button type="submit" class="primary" disabled=${v||D&&(!m||!e.patient_user_id)} aria-describedby=${D&&!e.patient_user_id?"no-patient":void 0}>${s("members.add_confirm")}</button>
        <button type="button" onClick=${()=>g(null)}>${s("common.back")}</button>
      </div>
    </form>`}return a`<form class="add-member" onSubmit=${T} role="search">
    <label for="people-q">${s("members.search")}</label>
    <p class="hint" id="people-hint">${s("members.search_hint")}</p>
    <div class="row">
      <input id="people-q" ref=${y} value=${o} minlength="2" aria-describedby="people-hint" onInput=${A=>r(A.currentTarget.value)} />
      <button type="submit" disabled=${o.trim().length<2}>${s("members.search_go")}</button>
      <button type="button" onClick=${i}>${s("common.cancel")}</button>
    </div>
    ${f&&a`<p class="error" role="alert">${f}</p>`}
    ${c&&a`<div role="status">${c.length===0?s("members.nobody"):s("members.found",{count:c.length})}</div>
      <ul class="people">
        ${c.map(A=>a`<li key=${A.user_id}>
            <button type="button" onClick=${()=>g(A)}>
              ${A.display_name||A.username} <span class="muted">(${A.username}, ${s(`role.${A.role}`)})</span>
            </button>
          </li>`)}
      </ul>`}
  </form>`}function qt(n){return n==="verified"?a`<span class="trust verified">${s("verify.badge_verified")}</span>`:n==="changed"?a`<span class="trust changed">${s("verify.badge_changed")}</span>`:null}function Fe({app:n,room:e,onClose:t}){let[i,o]=d({}),[,r]=d(0),[c,l]=d(!1),[u,g]=d(""),[$,p]=d(""),m=k(null),h=k(null),v=k(!1);if(q(()=>m.current?.focus(),[]),q(()=>{!c&&v.current&&h.current?.focus(),v.current=c},[c]),R(()=>n.on("identity",()=>r(y=>y+1)),[]),R(()=>{if(e)return n.presence(e.members.map(y=>y.user_id)).then(o,()=>{}),n.on("presence",y=>o(_=>({..._,[y.user_id]:y.online})))},[e]),!e)return a`<p>${s("app.loading")}</p>`;let f=e.members.find(y=>y.user_id===n.userId)?.room_role==="owner";async function C(y){let _=y.display_name||n.nameOf(y.user_id);if(confirm(s("members.remove_confirm",{name:_}))){p("");try{await n.removeMember(e.room_id,y.user_id),g(s("members.removed",{name:_}))}catch(T){p(E(T.code))}}}return a`<section aria-labelledby="members-title" class="members">
    <h2 id="members-title" tabindex="-1" ref=${m}>${s("members.title")}</h2>
    <p role="status">${u}</p>
    ${$&&a`<p class="error" role="alert">${$}</p>`}
    <ul>
      ${e.members.map(y=>a`<li key=${y.user_id}>
          <span class=${`dot ${i[y.user_id]?"on":"off"}`} aria-hidden="true"></span>
          <span class="name">${y.display_name||n.nameOf(y.user_id)}${y.user_id===n.userId?` (${s("message.me")})`:""}</span>
          <span class="muted">
            ${s(`role.${y.role}`)} · ${s(`room_role.${y.room_role}`)} · ${i[y.user_id]?s("presence.online"):s("presence.offline")}
          </span>
          ${y.user_id!==n.userId&&qt(n.trustOf(y.user_id))}
          ${n.verification&&y.user_id!==n.userId&&y.role!=="patient"&&a`<button type="button" onClick=${()=>n.verification(y.user_id)}>${s("verify.open",{name:y.display_name||n.nameOf(y.user_id)})}</button>`}
          ${f&&y.user_id!==n.userId&&a`<button type="button" class="danger" onClick=${()=>C(y)}>
            ${s("members.remove",{name:y.display_name||n.nameOf(y.user_id)})}
          </button>`}
        </li>`)}
    </ul>
    ${f&&(c?a`<${Rt} app=${n} room=${e} onDone=${y=>(l(!1),g(y))} onCancel=${()=>l(!1)} />`:a`<button type="button" ref=${h} onClick=${()=>l(!0)}>${s("members.add")}</button>`)}
    <button type="button" onClick=${t}>${s("common.close")}</button>
  </section>`}function Ke({app:n,roomId:e,onClose:t}){let[i,o]=d(""),[r,c]=d(!0),[l,u]=d(null),[g,$]=d(!1),[p,m]=d(!1),[h,v]=d(""),w=k(null),f=k(null);q(()=>w.current?.focus(),[]),q(()=>{l&&f.current?.focus()},[l]);async function C(_){_.preventDefault(),$(!0),v("");try{u(await n.startConsultation(e,i.trim(),r))}catch(T){v(E(T.code))}finally{$(!1)}}async function y(){try{await navigator.clipboard.writeText(l.link),m(!0)}catch{m(!1)}}return l?a`<section class="consult-made" aria-labelledby="consult-made-title">
      <h2 id="consult-made-title" tabindex="-1" ref=${f}>${s("consult.created")}</h2>
      <p>${s("consult.link_intro")}</p>
      <label for="consult-link">${s("consult.link")}</label>
      <div class="row">
        <input id="consult-link" readonly value=${l.link} onFocus=${_=>_.currentTarget.select()} />
        <button type="button" onClick=${y}>${s("consult.copy")}</button>
      </div>
      <p role="status">${p?s("consult.copied"):""}</p>
      ${l.code&&a`<p>${s("consult.code",{code:l.code})}</p>`}
      <p class="hint">${s("consult.link_once")}</p>
      <div class="row">
        <a class="button-like primary" href=${`#/rooms/${encodeURIComponent(e)}/consultations/${encodeURIComponent(l.consultation_id)}`}>${s("consult.open")}</a>
        <button type="button" onClick=${t}>${s("common.close")}</button>
      </div>
    </section>`:a`<form class="consult-start" onSubmit=${C} aria-labelledby="consult-title">
    <h2 id="consult-title">${s("consult.start")}</h2>
    ${h&&a`<p class="error" role="alert">${h}</p>`}
    <label for="consult-name">${s("consult.patient_name")}</label>
    <p class="hint" id="consult-name-hint">${s("consult.patient_name_hint")}</p>
    <input id="consult-name" ref=${w} required maxlength="120" aria-describedby="consult-name-hint" value=${i} onInput=${_=>o(_.currentTarget.value)} />
    <div class="check">
      <input id="consult-code" type="checkbox" checked=${r} onChange=${_=>c(_.currentTarget.checked)} />
      <label for="consult-code">${s("consult.with_code")}</label>
    </div>
    <div class="row">
      <button type="submit" class="primary" disabled=${g||!i.trim()}>${s("consult.create")}</button>
      <button type="button" onClick=${t}>${s("common.cancel")}</button>
    </div>
  </form>`}function Ge({app:n,roomId:e}){let[t,i]=d(()=>n.timeline(e)),[o,r]=d(null),[c,l]=d({}),[u,g]=d([]),[$,p]=d(null),[m,h]=d(""),v=k(null),w=k(null);q(()=>v.current?.focus(),[e]),R(()=>{i(n.timeline(e)),p(null);let _=b=>["offline","not_connected"].includes(b?.code),T=()=>n.room(e).then(b=>(r(b),h(""))).catch(b=>!_(b)&&h(E(b.code))),D=()=>n.receipts(e).then(l).catch(()=>{});n.connected&&(T(),D());let M=new Map,A=[n.on("timeline",b=>b===e&&i(n.timeline(e))),n.on("names",()=>i(n.timeline(e))),n.on("connection",b=>{b&&(i(n.timeline(e)),T(),D())}),n.on("room",b=>b===e&&T()),n.on("receipt",b=>b.room_id===e&&l(I=>({...I,[b.user_id]:Math.max(I[b.user_id]||0,b.seq)}))),n.on("typing",b=>{b.room_id===e&&(clearTimeout(M.get(b.user_id)),b.typing?M.set(b.user_id,setTimeout(()=>(M.delete(b.user_id),g([...M.keys()])),8e3)):M.delete(b.user_id),g([...M.keys()]))})];return()=>{A.forEach(b=>b()),M.forEach(b=>clearTimeout(b))}},[e]);let f=t.reduce((_,T)=>T.seq&&T.seq>_?T.seq:_,0);R(()=>{w.current?.scrollIntoView({block:"end"}),f>0&&document.visibilityState==="visible"&&n.markRead(e,f)},[f,t.length]);let C=xe(()=>{let _=t.filter(D=>D.seq&&D.sender_user===n.userId),T=new Map;for(let[D,M]of Object.entries(c)){if(D===n.userId)continue;let A=[..._].reverse().find(b=>b.seq<=M);A&&T.set(A.id,[...T.get(A.id)||[],n.nameOf(D)])}return T},[t,c]),y=o?n.roomTitle(o):n.titleOf(e)||s("app.loading");return a`
    <section class="room" aria-labelledby="room-title">
      <header class="room-head">
        <h1 id="room-title" tabindex="-1" ref=${v}>${y}</h1>
        <div class="room-actions">
          <button type="button" aria-expanded=${$==="members"} aria-controls="room-panel" onClick=${()=>p($==="members"?null:"members")}>
            ${s("members.title")}${o?` (${o.members.length})`:""}
          </button>
          ${n.canConsult&&a`<button type="button" class="primary" aria-expanded=${$==="consultation"} aria-controls="room-panel" onClick=${()=>p($==="consultation"?null:"consultation")}>
            ${s("consult.start")}
          </button>`}
          ${n.canConsult&&a`<a class="button-like" href=${`#/rooms/${encodeURIComponent(e)}/consultations`}>${s("consult.all_open")}</a>`}
        </div>
      </header>
      ${m&&a`<p class="error" role="alert">${m}</p>`}
      ${$&&a`<div id="room-panel" class="panel">
        ${$==="members"?a`<${Fe} app=${n} room=${o} onClose=${()=>p(null)} />`:a`<${Ke} app=${n} roomId=${e} onClose=${()=>p(null)} />`}
      </div>`}
      <div class="timeline" role="log" aria-label=${s("room.messages")} aria-live="polite" aria-relevant="additions">
        ${t.length===0&&a`<p class="empty">${s("room.empty")}</p>`}
        <ol>
          ${t.map(_=>a`<${Pe} key=${_.id} item=${_} app=${n} mine=${_.sender_user===n.userId} readers=${C.get(_.id)||[]} />`)}
        </ol>
      </div>
      <div ref=${w}></div>
      <p class="typing" role="status">${u.length?s("room.typing",{names:u.map(_=>n.nameOf(_)).join(", ")}):""}</p>
      <${ze} app=${n} roomId=${e} />
    </section>
  `}function Ve({app:n}){let[e,t]=d(null),[i,o]=d(""),[r,c]=d(""),[l,u]=d(""),g=k(null);async function $(){try{t(await n.devices())}catch(h){u(E(h.code))}}q(()=>g.current?.focus(),[]),R(()=>{$()},[]);async function p(h){h.preventDefault(),u(""),c("");try{await n.approveDevice(i.trim()),o(""),c(s("devices.approved")),$()}catch(v){u(v.code==="bad_code"?s("devices.bad_code"):E(v.code))}}async function m(h){let v=s("devices.name",{name:h.name,id:h.short_id});if(confirm(s("devices.revoke_confirm",{name:v}))){u(""),c("");try{await n.revokeDevice(h.device_id),c(s("devices.revoked",{name:v})),$()}catch(w){u(E(w.code))}}}return a`<section class="devices" aria-labelledby="devices-title">
    <h1 id="devices-title" tabindex="-1" ref=${g}>${s("devices.title")}</h1>
    <p role="status">${r}</p>
    ${l&&a`<p class="error" role="alert">${l}</p>`}
    ${e===null?a`<p>${s("app.loading")}</p>`:a`<ul class="device-list" aria-label=${s("devices.list")}>
          ${e.map(h=>{let v=s("devices.name",{name:h.name,id:h.short_id});return a`<li key=${h.device_id}>
              <span class="name">${v}${h.current?` (${s("devices.this_one")})`:""}</span>
              <span class="muted">${s("devices.signed_in",{when:K(h.signed_in_at)})} · ${s("devices.last_seen",{when:K(h.last_seen_at)})}</span>
              ${!h.current&&a`<button type="button" class="danger" onClick=${()=>m(h)}>${s("devices.revoke",{name:v})}</button>`}
            </li>`})}
        </ul>`}
    <form onSubmit=${p} class="approve">
      <h2>${s("devices.approve_title")}</h2>
      <p class="hint" id="approve-hint">${s("devices.approve_hint")}</p>
      <label for="approve-code">${s("devices.approve_code")}</label>
      <textarea id="approve-code" rows="3" aria-describedby="approve-hint" value=${i} onInput=${h=>o(h.currentTarget.value)}></textarea>
      <button type="submit" class="primary" disabled=${!i.trim()}>${s("devices.approve")}</button>
    </form>
  </section>`}function He({app:n,userId:e,onClose:t}){let[i,o]=d(null),[r,c]=d(""),[l,u]=d(()=>n.nameOf(e)),g=k(null),$=k(null);q(()=>g.current?.focus(),[e]),R(()=>{let h=()=>n.verificationFacts(e).then(o,v=>c(E(v.code)));return h(),n.learnName(e).then(v=>v&&u(v)),n.on("identity",v=>v===e&&h())},[e]);async function p(){try{await n.markVerified(e),$.current?.focus()}catch(h){c(E(h.code))}}let m=i?i.number.match(/.{1,5}/g):[];return a`<section class="verify" aria-labelledby="verify-title">
    <h2 id="verify-title" tabindex="-1" ref=${g}>${s("verify.title",{name:l})}</h2>
    ${r&&a`<p class="error" role="alert">${r}</p>`}
    ${i&&a`<p>${s("verify.intro",{name:l})}</p>
      <p class="safety-number" aria-label=${s("verify.number_label")}>
        ${m.map(h=>a`<span>${h}</span> `)}
      </p>
      <${me} text=${i.qr} label=${s("verify.qr_label",{name:l})} />
      <p role="status" tabindex="-1" ref=${$}>${i.state==="verified"?s("verify.is_verified",{name:l}):i.state==="changed"?s("verify.changed",{name:l}):s("verify.not_yet")}</p>
      ${i.state!=="verified"&&a`<button type="button" class="primary" onClick=${p}>${s("verify.match")}</button>`}`}
    <button type="button" onClick=${t}>${s("common.close")}</button>
  </section>`}function pe(n,e,t){let[i,o]=d(null);return R(()=>{if(!t)return;let r=new Ee(n.mediaSignal(),e);window.relaisCall=r,o(r),r.start();let c=n.on("connection",l=>l&&r.resume());return()=>{c(),r.hangup(),window.relaisCall===r&&delete window.relaisCall,o(null)}},[e,t]),i}function fe({leg:n,patientName:e,names:t}){let[i,o]=d(""),[r,c]=d({mic:n.micOn,camera:n.cameraOn,hasMic:!0,hasCamera:!0}),l=k(t);l.current=t,R(()=>{let p=[n.on("state",m=>{m==="connected"?o(s("consult.call_connected")):m==="reconnecting"&&o(s("consult.call_reconnecting"))}),n.on("devices",m=>{c({mic:n.micOn,camera:n.cameraOn,hasMic:m.audio,hasCamera:m.video}),m.problem&&o(s(`consult.devices_${m.problem}`))}),n.on("local",m=>c(h=>({...h,mic:m.mic,camera:m.camera}))),n.on("mode",m=>{if(!m.previous)return;let h=ve(m),v=m.participant_id===n.participantId?s("consult.you"):l.current.get(m.participant_id)||s("people.unknown"),w=s(`consult.mode_${ye(m.mode)}`);o(h?s("consult.mode_changed_why",{name:v,mode:w,cause:s(`consult.cause_${h}`)}):s("consult.mode_changed",{name:v,mode:w}))})];return()=>p.forEach(m=>m())},[n]);function u(){let p=!r.mic;n.setMicrophone(p)&&o(s(p?"consult.mic_on":"consult.mic_off"))}function g(){let p=!r.camera;n.setCamera(p)&&o(s(p?"consult.camera_on":"consult.camera_off"))}let $=e||s("people.unknown");return a`<section class="call" aria-labelledby="call-title">
    <h2 id="call-title">${s("consult.call_title")}</h2>
    <p class="call-status" role="status">${i}</p>
    <div class="stage">
      <${Te} leg=${n} name=${$} label=${s("consult.remote_video",{name:$})} noPicture=${s("consult.no_picture",{name:$})} />
      <${Re} leg=${n} />
    </div>
    <div class="row" role="group" aria-label=${s("consult.call_controls")}>
      <button type="button" aria-pressed=${r.mic?"false":"true"} disabled=${!r.hasMic} onClick=${u}>${s("consult.mic_mute")}</button>
      <button type="button" aria-pressed=${r.camera?"false":"true"} disabled=${!r.hasCamera} onClick=${g}>${s("consult.camera_mute")}</button>
    </div>
  </section>`}function _e(n){return typeof n=="number"?Math.round(n):"–"}function We({leg:n,participantId:e}){let[,t]=d(0);R(()=>{if(!n)return;let g=p=>p?.participant_id===e&&t(m=>m+1),$=[n.on("mode",g),n.on("quality",g)];return()=>$.forEach(p=>p())},[n,e]);let i=n?.modes.get(e),o=n?.quality.get(e);if(!i&&!o)return null;let r=o?.mode||i?.mode,c=i&&i.mode===r?ve(i):"",l=o?.measured||{},u=Math.round(100*Math.max(l.loss_up||0,l.loss_down||0));return a`<span class="media">
    <span class="mode"> · ${s(`consult.mode_${ye(r)}`)}${c?` (${s(`consult.cause_${c}`)})`:""}</span>
    ${o&&a`<span class="quality"> · ${s("consult.quality",{up:_e(l.in_kbps),down:_e(l.out_kbps),loss:u,rtt:_e(l.rtt_ms)})}</span>`}
  </span>`}var Qe=n=>["offline","not_connected"].includes(n?.code);function Mt({p:n,leg:e}){let t=n.state==="admitted"?n.present?s("consult.present"):s("consult.absent"):s(`consult.state_${n.state}`);return a`<li>
    <span class="who">${n.display_name||s("people.unknown")}</span>
    <span class="role"> · ${s(`consult.role_${n.role}`)}</span>
    <span class="state"> · ${t}</span>
    ${n.state==="admitted"&&a`<${We} leg=${e} participantId=${n.participant_id} />`}
  </li>`}function Ye({app:n,roomId:e,consultationId:t}){let[i,o]=d(null),[r,c]=d([]),[l,u]=d([]),[g,$]=d(""),[p,m]=d(!1),[h,v]=d(!1),[w,f]=d(""),C=k(null),y=k(null),_=k(null),T=k(null),D=k(null),[M,A]=d(null),[b,I]=d(null),[B,J]=d([]);function U(x){let z=T.current,V=z?x.filter(L=>!z.has(L.participant_id)):[];T.current=new Set(x.map(L=>L.participant_id)),V.length&&$(s("consult.arrived",{name:V.map(L=>L.display_name||s("people.unknown")).join(", ")})),c(x)}q(()=>C.current?.focus(),[t]),q(()=>{p&&y.current?.focus()},[p]),q(()=>{M&&({waiting:D,end:_,heading:C}[M]?.current?.focus(),A(null))},[M]),R(()=>{let x=new qe(n.e2ee,t),z=!1,V=null;I(null),J([]);let L=x.on("unapproved",ne=>J(ne)),F=async()=>{if(!(z||!n.connected))try{await x.open(),z||I(x)}catch(ne){!z&&ne?.code!=="consultation_ended"&&(V=setTimeout(F,3e3))}},at=n.on("connection",ne=>ne&&(x.chatRoomId?x.wantSync():F()));return V=setTimeout(F,0),()=>{z=!0,clearTimeout(V),L(),at(),x.close()}},[t]),R(()=>{let x=!1;T.current=null,o(null),c([]),u([]),$(""),m(!1),f("");let z=async()=>{try{let L=await n.consultation(t);if(x)return;L.status==="open"&&await n.joinConsultation(t);let F=L.status==="open"?await n.consultation(t):L;if(x)return;o(F.status),u(F.participants||[]),U(F.waiting||[]),f("")}catch(L){if(x)return;L.code==="consultation_ended"?o("ended"):Qe(L)||f(E(L.code))}};n.connected&&z();let V=[n.on("connection",L=>L&&z()),n.on("consult",(L,F)=>{F?.consultation_id===t&&(L==="consult.waiting"?U(F.waiting||[]):L==="consult.participants"?u(F.participants||[]):L==="consult.ended"&&(o("ended"),c([])))})];return()=>{x=!0,V.forEach(L=>L())}},[t]);async function j(x,z){v(!0),f("");try{await x(),A(z)}catch(V){f(E(V.code))}finally{v(!1)}}let Z=x=>j(()=>b?b.admit(x.participant_id):n.admit(t,x.participant_id),"waiting"),O=x=>b?.names.get(x)||n.nameOf(x),G=x=>j(()=>n.deny(t,x.participant_id),"waiting"),ee=()=>j(async()=>{await n.endConsultation(t),m(!1),o("ended"),c([])},"heading"),P=i==="ended",S=l.some(x=>x.role!=="host"&&x.state==="admitted"),[N,X]=d(!1);R(()=>{i==="open"&&S?X(!0):i!=="open"&&X(!1)},[i,S]),R(()=>X(!1),[t]);let Y=pe(n,t,N),ot=l.find(x=>x.role==="patient")||l.find(x=>x.role!=="host");return a`<section class="consultation" aria-labelledby="consultation-title">
    <h1 id="consultation-title" tabindex="-1" ref=${C}>${s("consult.screen_title")}</h1>
    <p><a href=${Je(e)}>${e?s("consult.all_open"):s("consult.assisted_queue")}</a>${e&&a` · <a href=${`#/rooms/${encodeURIComponent(e)}`}>${s("consult.back_room")}</a>`}</p>
    <p class="status" role="status">${P?s("consult.ended"):g}</p>
    ${w&&a`<p class="error" role="alert">${w}</p>`}
    ${i===null&&!w&&a`<p>${s("app.loading")}</p>`}
    ${i==="open"&&a`
      <section aria-labelledby="waiting-title">
        <h2 id="waiting-title" tabindex="-1" ref=${D}>${s("consult.waiting_title")}</h2>
        ${r.length===0?a`<p>${s("consult.waiting_empty")}</p>`:a`<ul class="waiting">
              ${r.map(x=>a`<li key=${x.participant_id}>
                  <span class="who">${x.display_name||s("people.unknown")}</span>
                  <span class="role"> · ${s(`consult.role_${x.role}`)}</span>
                  <span class="row">
                    <button type="button" class="primary" disabled=${h} aria-label=${s("consult.admit_who",{name:x.display_name})} onClick=${()=>Z(x)}>${s("consult.admit")}</button>
                    <button type="button" disabled=${h} aria-label=${s("consult.deny_who",{name:x.display_name})} onClick=${()=>G(x)}>${s("consult.deny")}</button>
                  </span>
                </li>`)}
            </ul>`}
      </section>
      ${Y&&a`<${fe} leg=${Y} patientName=${ot?.display_name} names=${new Map(l.map(x=>[x.participant_id,x.display_name]))} />`}
      ${B.length>0&&a`<section aria-labelledby="unapproved-title">
        <h2 id="unapproved-title">${s("text.unapproved_title")}</h2>
        <p>${s("text.unapproved_intro")}</p>
        <ul>
          ${B.map(x=>a`<li key=${x}><button type="button" onClick=${()=>b?.approve(x)}>${s("text.approve",{name:O(x)})}</button></li>`)}
        </ul>
      </section>`}
      <${Me} text=${b} nameOf=${O} />
      <section aria-labelledby="participants-title">
        <h2 id="participants-title">${s("consult.participants_title")}</h2>
        <ul class="participants">
          ${l.map(x=>a`<${Mt} key=${x.participant_id} p=${x} leg=${Y} />`)}
        </ul>
      </section>
      ${p?a`<div class="confirm" role="group" aria-labelledby="end-question">
            <p id="end-question">${s("consult.end_confirm")}</p>
            <div class="row">
              <button type="button" class="danger" ref=${y} disabled=${h} onClick=${ee}>${s("consult.end_yes")}</button>
              <button type="button" onClick=${()=>(m(!1),A("end"))}>${s("common.cancel")}</button>
            </div>
          </div>`:a`<button type="button" class="danger" ref=${_} onClick=${()=>m(!0)}>${s("consult.end")}</button>`}
    `}
  </section>`}function Je(n){return n?`#/rooms/${encodeURIComponent(n)}/consultations`:"#/consultations"}function Xe({app:n,roomId:e}){let[t,i]=d(null),[o,r]=d(""),c=k(null);return q(()=>c.current?.focus(),[e]),R(()=>{let l=()=>n.openConsultations(e).then(u=>(i(u),r(""))).catch(u=>!Qe(u)&&r(E(u.code)));return n.connected&&l(),n.on("connection",u=>u&&l())},[e]),a`<section aria-labelledby="consultations-title">
    <h1 id="consultations-title" tabindex="-1" ref=${c}>${e?s("consult.list_title"):s("consult.assisted_queue")}</h1>
    ${e&&a`<p><a href=${`#/rooms/${encodeURIComponent(e)}`}>${s("consult.back_room")}</a></p>`}
    ${o&&a`<p class="error" role="alert">${o}</p>`}
    ${t===null?!o&&a`<p>${s("app.loading")}</p>`:t.length===0?a`<p>${s("consult.list_empty")}</p>`:a`<ul class="consultations">
            ${t.map(l=>a`<li key=${l.consultation_id}>
                <a href=${`${Je(e)}/${encodeURIComponent(l.consultation_id)}`}>
                  ${s("consult.opened_at",{when:K(l.created_at)})}${l.assisted_by?` · ${s("consult.assisted_by",{name:l.assisted_by.display_name})}`:""}${l.waiting?` · ${s("consult.waiting_count",{count:l.waiting})}`:""}
                </a>
              </li>`)}
          </ul>`}
  </section>`}function Ze(){let n=location.hash.replace(/^#\/?/,"").split("/");if(n[0]==="rooms"&&n[1]&&n[2]==="consultations"){let e=decodeURIComponent(n[1]);return n[3]?{view:"consultation",id:e,consultation:decodeURIComponent(n[3])}:{view:"consultations",id:e}}return n[0]==="consultations"?n[1]?{view:"consultation",id:null,consultation:decodeURIComponent(n[1])}:{view:"consultations",id:null}:n[0]==="rooms"&&n[1]?{view:"room",id:decodeURIComponent(n[1])}:n[0]==="devices"?{view:"devices"}:n[0]==="verify"&&n[1]?{view:"verify",id:decodeURIComponent(n[1])}:{view:"home"}}function At({app:n,onDone:e}){let[t,i]=d(""),[o,r]=d(!1),[c,l]=d(""),u=k(null);q(()=>u.current?.focus(),[]);async function g($){$.preventDefault(),r(!0),l("");try{let p=await n.createRoom(t.trim());e(p)}catch(p){l(E(p.code)),r(!1)}}return a`<form class="new-room" onSubmit=${g}>
    ${c&&a`<p class="error" role="alert">${c}</p>`}
    <label for="new-room-title">${s("rooms.new_title")}</label>
    <p class="hint" id="new-room-hint">${s("rooms.new_hint")}</p>
    <input id="new-room-title" ref=${u} maxlength="200" required aria-describedby="new-room-hint" value=${t} onInput=${$=>i($.currentTarget.value)} />
    <div class="row">
      <button type="submit" class="primary" disabled=${o||!t.trim()}>${s("rooms.create")}</button>
      <button type="button" onClick=${()=>e(null)}>${s("common.cancel")}</button>
    </div>
  </form>`}function et({app:n,onSignOut:e,onForget:t,onLanguage:i}){let[o,r]=d(null),[c,l]=d(n.connected),[u,g]=d(Ze()),[$,p]=d(!1),[m,h]=d("");R(()=>{let f=()=>g(Ze());return addEventListener("hashchange",f),()=>removeEventListener("hashchange",f)},[]),R(()=>{let f=null,C=()=>{f||(f=setTimeout(async()=>{f=null;try{let _=await n.listRooms();_.sort((T,D)=>D.last_activity_at-T.last_activity_at),r(_),h("")}catch(_){_.code!=="offline"&&_.code!=="not_connected"&&h(E(_.code))}},150))},y=[n.on("rooms",C),n.on("connection",l)];return C(),()=>{y.forEach(_=>_()),clearTimeout(f)}},[n]),n.verification=f=>location.hash=`#/verify/${encodeURIComponent(f)}`;let v=n.session.record,w;return u.view==="room"?w=a`<${Ge} app=${n} roomId=${u.id} />`:u.view==="consultation"?w=a`<${Ye} app=${n} roomId=${u.id} consultationId=${u.consultation} />`:u.view==="consultations"?w=a`<${Xe} app=${n} roomId=${u.id} />`:u.view==="devices"?w=a`<${Ve} app=${n} />`:u.view==="verify"?w=a`<${He} app=${n} userId=${u.id} onClose=${()=>history.back()} />`:w=a`<h1 tabindex="-1">${s("workspace.welcome")}</h1><p>${s("workspace.pick_room")}</p>`,a`
    <a class="skip" href="#main" onClick=${f=>(f.preventDefault(),document.getElementById("main")?.focus())}>${s("app.skip")}</a>
    <header class="bar">
      <span class="brand">${s("app.name")}</span>
      <span class="status" role="status">${c?"":s("workspace.offline")}</span>
      <span class="who">${s("workspace.signed_in_as",{name:v.display_name||v.username})}</span>
      <label class="lang">
        <span>${s("lang.label")}</span>
        <select value=${ae()} onChange=${f=>i(f.currentTarget.value)}>
          ${oe.map(f=>a`<option value=${f}>${s(`lang.${f}`)}</option>`)}
        </select>
      </label>
      <a class="button-like" href="#/devices">${s("workspace.devices")}</a>
      <button type="button" onClick=${e}>${s("workspace.sign_out")}</button>
      <button type="button" class="danger" onClick=${t}>${s("workspace.forget")}</button>
    </header>
    <div class="workspace">
      <nav aria-labelledby="rooms-title" class="rooms">
        <h2 id="rooms-title">${s("rooms.title")}</h2>
        ${n.canConsult&&a`<p><a href="#/consultations" aria-current=${u.view==="consultations"&&u.id===null?"page":void 0}>${s("consult.assisted_queue")}</a></p>`}
        ${n.canConsult&&($?a`<${At} app=${n} onDone=${f=>(p(!1),f&&(location.hash=`#/rooms/${f}`))} />`:a`<button type="button" onClick=${()=>p(!0)}>${s("workspace.new_room")}</button>`)}
        ${m&&a`<p class="error" role="alert">${m}</p>`}
        ${o===null?a`<p>${s("app.loading")}</p>`:o.length===0?a`<p>${s("rooms.empty")}</p>`:a`<ul>
                ${o.map(f=>a`<li key=${f.room_id}>
                    <a href=${`#/rooms/${f.room_id}`} aria-current=${u.view==="room"&&u.id===f.room_id?"page":void 0}>
                      <span class="room-name">${f.title||s("rooms.untitled",{id:f.room_id.slice(2,8)})}</span>
                      ${f.unread>0&&a`<span class="badge"><span aria-hidden="true">${f.unread}</span><span class="visually-hidden">${s("rooms.unread",{count:f.unread})}</span></span>`}
                      <span class="when">${s("rooms.last_activity",{when:K(f.last_activity_at)})}</span>
                    </a>
                  </li>`)}
              </ul>`}
      </nav>
      <main id="main" tabindex="-1">${w}</main>
    </div>
  `}var Dt="assisted-v1",Ot=["id_card","passport","residence_permit","health_card","known_to_staff","other"],Lt=["verbal","written","on_device"],Ut=()=>new Date().toISOString().slice(0,10);function tt(n){let e=/^\s*(\d{1,2})[/.\- ](\d{1,2})[/.\- ](\d{4})\s*$/.exec(n);if(!e)return null;let[t,i,o]=[Number(e[1]),Number(e[2]),Number(e[3])],r=new Date(Date.UTC(o,i-1,t));if(r.getUTCFullYear()!==o||r.getUTCMonth()!==i-1||r.getUTCDate()!==t)return null;let c=r.toISOString().slice(0,10);return c>Ut()||o<1880?null:c}function Nt({list:n,onLeave:e}){let[t,i]=d(!1),[o,r]=d("");async function c(l){i(!0),r("");try{await e(l)}catch(u){r(E(u.code))}finally{i(!1)}}return a`<section class="panel leftovers" aria-labelledby="assist-leftover-title">
    <h2 id="assist-leftover-title">${s("assist.leftover_title")}</h2>
    <p>${s("assist.leftover_intro")}</p>
    ${o&&a`<p class="error" role="alert">${o}</p>`}
    <ul>
      ${n.map(l=>{let u=K(l.created_at);return a`<li key=${l.consultation_id}>
          <button type="button" disabled=${t} onClick=${()=>c(l)}>${s("assist.leftover_leave",{when:u})}</button>
        </li>`})}
    </ul>
  </section>`}function nt({app:n,leftovers:e=[],onLeaveLeftover:t,onOpened:i}){let[o,r]=d(""),[c,l]=d(""),[u,g]=d(""),[$,p]=d(""),[m,h]=d(""),[v,w]=d(!1),[f,C]=d(""),[y,_]=d(null),[T,D]=d(null),[M,A]=d(!1),[b,I]=d(!1),[B,J]=d(""),[U,j]=d(""),Z=k(null),O={name:k(null),birth:k(null),method:k(null),consentMethod:k(null),agreed:k(null),query:k(null)};q(()=>{Z.current?.focus()},[]);async function G(){let S=f.trim();if(S.length<2){j(s("assist.search_short")),O.query.current?.focus();return}A(!0),j("");try{let N=await n.findClinicians(S);_(N),D(N.length===1?N[0]:null),j(N.length?s("assist.search_found",{count:N.length}):s("assist.search_none"))}catch(N){_(null),j(E(N.code))}finally{A(!1)}}async function ee(S){S.preventDefault();let N=[];if(o.trim()||N.push(["name","assist.full_name"]),tt(c)||N.push(["birth","assist.birth_date"]),u||N.push(["method","assist.method"]),m||N.push(["consentMethod","assist.consent_method"]),v||N.push(["agreed","assist.consent_agree"]),T||N.push(["query","assist.clinician"]),N.length){J(s("assist.missing",{fields:N.map(([,Y])=>s(Y)).join(" ; ")})),O[N[0][0]].current?.focus();return}I(!0),J("");let X={full_name:o.trim(),birth_date:tt(c),method:u};$.trim()&&(X.detail=$.trim());try{let Y=await n.openAssisted({host_user_id:T.user_id,patient:X,consent:{text_version:Dt,method:m}});i({...Y,patient:{full_name:X.full_name},clinician:{display_name:T.display_name||T.username}})}catch(Y){J(E(Y.code)),I(!1)}}let P={autocomplete:"off",autocapitalize:"off",spellcheck:!1};return a`<form class="assist-start" onSubmit=${ee} aria-labelledby="assist-start-title" autocomplete="off" novalidate>
    <h1 id="assist-start-title" tabindex="-1" ref=${Z}>${s("assist.start_title")}</h1>
    <p>${s("assist.start_intro")}</p>
    ${e.length>0&&a`<${Nt} list=${e} onLeave=${t} />`}
    ${B&&a`<p class="error" role="alert">${B}</p>`}

    <fieldset>
      <legend>${s("assist.identity")}</legend>
      <label for="assist-name">${s("assist.full_name")}</label>
      <input id="assist-name" ref=${O.name} ...${P} maxlength="200" required value=${o} onInput=${S=>r(S.currentTarget.value)} />
      <label for="assist-birth">${s("assist.birth_date")}</label>
      <p class="hint" id="assist-birth-hint">${s("assist.birth_date_hint")}</p>
      <input id="assist-birth" ref=${O.birth} inputmode="numeric" ...${P} maxlength="10" required aria-describedby="assist-birth-hint" value=${c} onInput=${S=>l(S.currentTarget.value)} />
      <label for="assist-method">${s("assist.method")}</label>
      <select id="assist-method" ref=${O.method} ...${P} required value=${u} onChange=${S=>g(S.currentTarget.value)}>
        <option value="">${s("assist.choose")}</option>
        ${Ot.map(S=>a`<option value=${S}>${s(`assist.method_${S}`)}</option>`)}
      </select>
      <label for="assist-detail">${s("assist.detail")}</label>
      <p class="hint" id="assist-detail-hint">${s("assist.detail_hint")}</p>
      <input id="assist-detail" ...${P} maxlength="200" aria-describedby="assist-detail-hint" value=${$} onInput=${S=>p(S.currentTarget.value)} />
    </fieldset>

    <fieldset>
      <legend>${s("assist.consent")}</legend>
      <p id="assist-consent-text" class="consent-text">${s("assist.consent_text")}</p>
      <p class="hint">${s("assist.consent_read")}</p>
      <label for="assist-consent-method">${s("assist.consent_method")}</label>
      <select id="assist-consent-method" ref=${O.consentMethod} required value=${m} onChange=${S=>h(S.currentTarget.value)}>
        <option value="">${s("assist.choose")}</option>
        ${Lt.map(S=>a`<option value=${S}>${s(`assist.consent_${S}`)}</option>`)}
      </select>
      <div class="check">
        <input id="assist-agree" ref=${O.agreed} type="checkbox" aria-describedby="assist-consent-text" checked=${v} onChange=${S=>w(S.currentTarget.checked)} />
        <label for="assist-agree">${s("assist.consent_agree")}</label>
      </div>
    </fieldset>

    <fieldset>
      <legend>${s("assist.clinician")}</legend>
      <label for="assist-query">${s("assist.search")}</label>
      <p class="hint" id="assist-query-hint">${s("assist.search_hint")}</p>
      <div class="row">
        <input id="assist-query" ref=${O.query} type="search" ...${P} maxlength="120" aria-describedby="assist-query-hint" value=${f}
          onInput=${S=>C(S.currentTarget.value)}
          onKeyDown=${S=>S.key==="Enter"&&(S.preventDefault(),G())} />
        <button type="button" disabled=${M} onClick=${G}>${s("assist.search_button")}</button>
      </div>
      <p role="status" class="hint">${U}</p>
      ${y&&y.length>0&&a`<div role="radiogroup" aria-label=${s("assist.clinician_pick")} class="choices">
        ${y.map(S=>a`<div class="check" key=${S.user_id}>
            <input type="radio" id=${`assist-c-${S.user_id}`} name="assist-clinician" checked=${T?.user_id===S.user_id} onChange=${()=>D(S)} />
            <label for=${`assist-c-${S.user_id}`}>${S.display_name||S.username}${S.display_name&&S.display_name!==S.username?` (${S.username})`:""}</label>
          </div>`)}
      </div>`}
    </fieldset>

    <div class="row">
      <button type="submit" class="primary" disabled=${b}>${s("assist.open")}</button>
    </div>
  </form>`}var jt=n=>["offline","not_connected"].includes(n?.code);function st({app:n,session:e,assistant:t,onAnnounce:i,onFinished:o}){let[r,c]=d("joining"),[l,u]=d(!1),[g,$]=d(!1),[p,m]=d(""),h=k(null),v=k(null),w=k(null),f=k(r),C=e.consultation_id,y=new Set([e.assistant_participant_id,e.patient_participant_id]),_=e.clinician.display_name,T=e.patient.full_name,[D,M]=d(()=>new Map),A=pe(n,C,r==="admitted");function b(U){if(f.current===U||f.current==="ended")return;f.current=U,c(U);let j={waiting:"assist.now_waiting",admitted:"assist.now_admitted",denied:"assist.now_denied",ended:"assist.now_ended"}[U];j&&i(s(j,{clinician:_,patient:T}))}q(()=>h.current?.focus(),[]),q(()=>{l&&w.current?.focus()},[l]),R(()=>{let U=!1,j=async()=>{try{let O=await n.joinConsultation(C);U||b(O.state==="admitted"?"admitted":"waiting")}catch(O){if(U)return;O.code==="consultation_ended"?b("ended"):O.code==="not_admitted"?b("denied"):jt(O)||m(E(O.code))}};n.connected&&j();let Z=[n.on("connection",O=>O&&f.current!=="ended"&&f.current!=="denied"&&j()),n.on("consult",(O,G)=>{if(!(U||G?.consultation_id!==C))if(O==="consult.state"&&y.has(G.participant_id))b(G.state==="admitted"?"admitted":G.state==="denied"?"denied":f.current);else if(O==="consult.participants"){let ee=G.participants||[];M(new Map(ee.map(P=>[P.participant_id,P.display_name]))),ee.some(P=>P.participant_id===e.assistant_participant_id)&&b("admitted")}else O==="consult.ended"&&b("ended")})];return()=>{U=!0,Z.forEach(O=>O())}},[C]);async function I(){$(!0),m("");try{await n.forgetRoom(e.chat_room_id),(f.current==="waiting"||f.current==="admitted"||f.current==="joining")&&await n.leaveConsultation(C).catch(U=>{if(!["consultation_ended","not_found","not_admitted"].includes(U?.code))throw U}),await n.leaveRoomIfMember(e.chat_room_id)}catch(U){$(!1),m(E(U.code));return}o()}let B={joining:s("assist.state_joining"),waiting:s("assist.state_waiting",{clinician:_}),admitted:s("assist.state_admitted",{clinician:_}),denied:s("assist.state_denied",{clinician:_}),ended:s("assist.state_ended",{clinician:_})},J=r==="denied"||r==="ended";return a`<section class="assist-session" aria-labelledby="assist-session-title">
    <h1 id="assist-session-title" tabindex="-1" ref=${h}>${s("assist.session_title")}</h1>
    <p class="acting-detail">${s("assist.acting",{patient:T,assistant:t})}</p>
    <p class=${`assist-phase ${r}`} data-phase=${r}>${B[r]}</p>
    ${p&&a`<p class="error" role="alert">${p}</p>`}
    <section id="assisted-call" class="assist-call" aria-label=${s("assist.call_region")} data-consultation=${C}>
      ${A?a`<${fe} leg=${A} patientName=${_} names=${D} />`:a`<p class="hint">${s("assist.call_later")}</p>`}
    </section>
    ${l?a`<div class="confirm" role="group" aria-labelledby="assist-end-question">
          <p id="assist-end-question">${J?s("assist.clear_confirm",{patient:T}):s("assist.end_confirm",{patient:T})}</p>
          <div class="row">
            <button type="button" class="danger" ref=${w} disabled=${g} onClick=${I}>${s("assist.end_yes")}</button>
            <button type="button" onClick=${()=>(u(!1),requestAnimationFrame(()=>v.current?.focus()))}>${s("common.cancel")}</button>
          </div>
        </div>`:a`<button type="button" class="danger" ref=${v} onClick=${()=>u(!0)}>${s("assist.end")}</button>`}
  </section>`}function it({app:n,onSignOut:e,onForget:t,onLanguage:i}){let[o,r]=d(null),[c,l]=d(0),[u,g]=d(""),[$,p]=d(n.connected),m=k(!1),h=n.session.record,v=h.display_name||h.username;R(()=>n.on("connection",p),[n]);let[w,f]=d([]),C=()=>n.openAssistedSessions().then(f).catch(()=>{});R(()=>{if(!o)return n.connected&&C(),n.on("connection",M=>M&&C())},[n,o]);async function y(M){await n.leaveLeftover(M.consultation_id),g(s("assist.leftover_left")),await C()}q(()=>{document.title=`${s(o?"assist.session_title":"assist.start_title")} · ${s("app.name")}`},[o,c]);function _(M){g(s("assist.opened",{clinician:M.clinician.display_name})),r(M)}async function T(){if(m.current)return;m.current=!0;let M=o?.chat_room_id;r(null),l(A=>A+1),g(s("assist.cleared"));try{await n.forgetRoom(M)}finally{m.current=!1}}let D=o?.patient.full_name;return a`
    <a class="skip" href="#main" onClick=${M=>(M.preventDefault(),document.getElementById("main")?.focus())}>${s("app.skip")}</a>
    <header class="bar">
      <span class="brand">${s("app.name")}</span>
      <span class="status" role="status">${$?"":s("assist.offline")}</span>
      <span class="who">${s("workspace.signed_in_as",{name:v})}</span>
      <label class="lang">
        <span>${s("lang.label")}</span>
        <select value=${ae()} onChange=${M=>i(M.currentTarget.value)}>
          ${oe.map(M=>a`<option value=${M}>${s(`lang.${M}`)}</option>`)}
        </select>
      </label>
      ${!o&&a`<button type="button" onClick=${e}>${s("workspace.sign_out")}</button>
        <button type="button" class="danger" onClick=${t}>${s("workspace.forget")}</button>`}
    </header>
    <p class="acting" data-testid="acting">
      ${D?s("assist.acting",{patient:D,assistant:v}):s("assist.acting_none",{assistant:v})}
    </p>
    <p class="assist-status" role="status">${u}</p>
    <main id="main" tabindex="-1" class="assist">
      ${o?a`<${st} key=${o.consultation_id} app=${n} session=${o} assistant=${v} onAnnounce=${g} onFinished=${T} />`:a`<${nt} key=${`start-${c}`} app=${n} leftovers=${w} onLeaveLeftover=${y} onOpened=${_} />`}
    </main>
  `}function It({vault:n}){let[e,t]=d({phase:"loading",app:null,error:""}),[,i]=d(he());async function o(p){let m=null;try{p.vault.locked&&(t({phase:"waiting",app:null}),await Pt(p)),m=await ue.open(p),m.on("ended",()=>r(m));let h=await m.deviceStatus();h==="ready"?(t({phase:"ready",app:m}),await m.connect()):t({phase:h,app:m})}catch(h){if(h?.code==="unauthorized"&&m)return r(m);t({phase:"signin",app:null,error:E(h.code)})}}async function r(p){p._ended||(p._ended=!0,await p.close().catch(()=>{}),await p.session.endedElsewhere(),location.hash="",t({phase:"signin",app:null,error:s("signin.ended")}))}R(()=>{ie.resume(n).then(p=>p?o(p):t({phase:"signin"}))},[]),q(()=>{let p={signin:"signin.title",first_device:"setup.first_title",new_device:"setup.new_title"};document.title=p[e.phase]?`${s(p[e.phase])} · ${s("app.name")}`:s("app.name");let m=document.activeElement;(!m||m===document.body)&&document.getElementById("main")?.focus()},[e.phase]);async function c(p){await o(await ie.login(n,p))}async function l(){let p=e.app;t({phase:"ready",app:p}),await p.connect().catch(m=>m?.code==="unauthorized"&&r(p))}async function u(p){let m=e.app;if(m&&(m._ended=!0),p){let h=m.session.deviceId;await m.session.forgetDevice(e.phase==="ready"?()=>m.revokeDevice(h):null),m.close().catch(()=>{}),location.replace(location.pathname);return}await m?.close(),await m.session.signOut(),location.hash="",t({phase:"signin",app:null})}function g(p){$e(p,!0),i(p)}if(e.phase==="waiting")return a`<main id="main" tabindex="-1"><p role="status">${s("app.waiting_server")}</p></main>`;if(e.phase==="loading")return a`<main id="main"><p role="status">${s("app.loading")}</p></main>`;if(e.phase==="signin")return a`<${Ue} onSignIn=${c} initialError=${e.error} />`;if(e.phase==="first_device"||e.phase==="new_device")return a`<${Ie} app=${e.app} status=${e.phase} onReady=${l} />`;let $=e.app.session.record.role==="assistant"?it:et;return a`<${$} app=${e.app} onSignOut=${()=>u(!1)} onForget=${()=>u(!0)} onLanguage=${g} />`}async function Pt(n){for(let e=1e3;;e=Math.min(e*2,15e3)){try{await n.unlock();return}catch(t){if(t.code==="unauthorized")throw t}await new Promise(t=>{let i=()=>(clearTimeout(o),removeEventListener("online",i),t()),o=setTimeout(i,e);addEventListener("online",i)})}}$e(he());le.open().then(n=>ke(a`<${It} vault=${n} />`,document.getElementById("root")));
