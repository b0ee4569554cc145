import{a as ie,c as oe,d as Me,e as qe,f as De}from"./chunk-PPEPNAV2.js";import{a as Te,b as Re,c as Ae,d as Oe}from"./chunk-GDH4BOQ4.js";import{a as Se,b as d,c as T,d as M,e as k,f as Ee,g as a,h as re,i as ye,j as ve,k as ce,l as s,m as E,n as j,o as se,p as we,q as _e,r as le}from"./chunk-H4TBXBB2.js";import"./chunk-55A7VLQV.js";import"./chunk-WOT6VMZA.js";var ke="relais";var W="meta",Q="records",Le="wrap-key",Ue="user-key-salt",mt=new Set(["session"]),pt=new TextEncoder().encode("relais/web/vault/user-key/v1"),de=class extends Error{constructor(){super("the vault is locked"),this.code="vault_locked"}};function H(t){return new Promise((e,n)=>{t.onsuccess=()=>e(t.result),t.onerror=()=>n(t.error)})}function ft(){let t=indexedDB.open(ke,1);return t.onupgradeneeded=()=>{let e=t.result;e.objectStoreNames.contains(W)||e.createObjectStore(W),e.objectStoreNames.contains(Q)||e.createObjectStore(Q)},H(t)}function ht(t){return new TextEncoder().encode(JSON.stringify(t,(e,n)=>n instanceof Uint8Array?{$bytes:bt(n)}:n))}function $t(t){return JSON.parse(new TextDecoder().decode(t),(e,n)=>n&&typeof n=="object"&&typeof n.$bytes=="string"&&Object.keys(n).length===1?Ne(n.$bytes):n)}function bt(t){let e="";for(let n=0;n<t.length;n+=32768)e+=String.fromCharCode(...t.subarray(n,n+32768));return btoa(e)}function Ne(t){let e=atob(t),n=new Uint8Array(e.length);for(let i=0;i<e.length;i++)n[i]=e.charCodeAt(i);return n}async function gt(){return indexedDB.databases?(await indexedDB.databases()).some(t=>t.name===ke):!0}var ue=class t{constructor(e,n){this.db=e,this.key=n,this.userKey=null,this.wiped=!1}get locked(){return this.userKey===null}async unlock(e){await this.ensure();let n=await H(this.db.transaction(W).objectStore(W).get(Ue));n||(n=crypto.getRandomValues(new Uint8Array(32)),await H(this.db.transaction(W,"readwrite").objectStore(W).put(n,Ue)));let i=Ne(e.replace(/-/g,"+").replace(/_/g,"/"));if(i.length!==32)throw new Error("bad vault key");let o=await crypto.subtle.importKey("raw",i,"HKDF",!1,["deriveKey"]);this.userKey=await crypto.subtle.deriveKey({name:"HKDF",hash:"SHA-256",salt:n,info:pt},o,{name:"AES-GCM",length:256},!1,["encrypt","decrypt"])}lock(){this.userKey=null}_keyFor(e){if(mt.has(e))return this.key;if(!this.userKey)throw new de;return this.userKey}static async open(){return await gt()?t.create():new t(null,null)}static async create(){let e=await ft(),n=await H(e.transaction(W).objectStore(W).get(Le));return n||(n=await crypto.subtle.generateKey({name:"AES-GCM",length:256},!1,["encrypt","decrypt"]),await H(e.transaction(W,"readwrite").objectStore(W).put(n,Le))),new t(e,n)}async ensure(){if(this.wiped)throw new de;if(!this.db){let e=await t.create();this.db=e.db,this.key=e.key}}async put(e,n){await this.ensure();let i=crypto.getRandomValues(new Uint8Array(12)),o=new TextEncoder().encode(`relais/web/vault/${e}`),r=new Uint8Array(await crypto.subtle.encrypt({name:"AES-GCM",iv:i,additionalData:o},this._keyFor(e),ht(n)));await H(this.db.transaction(Q,"readwrite").objectStore(Q).put({iv:i,ct:r},e))}async get(e){if(!this.db)return;let n=this._keyFor(e),i=await H(this.db.transaction(Q).objectStore(Q).get(e));if(!i)return;let o=new TextEncoder().encode(`relais/web/vault/${e}`);try{let r=await crypto.subtle.decrypt({name:"AES-GCM",iv:i.iv,additionalData:o},n,i.ct);return $t(new Uint8Array(r))}catch{await this.delete(e);return}}async delete(e){this.db&&await H(this.db.transaction(Q,"readwrite").objectStore(Q).delete(e))}async names(){return this.db?H(this.db.transaction(Q).objectStore(Q).getAllKeys()):[]}async wipe(e=!0){this.wiped=e,this.db?.close(),this.db=null,this.key=null,this.userKey=null,await H(indexedDB.deleteDatabase(ke))}};var te="session",ae=class t{constructor(e,n,i){this.vault=e,this.api=n,this.record=i}get userId(){return this.record.user_id}get deviceId(){return this.record.device_id}get token(){return this.record.token}static async resume(e,n=new _e){let i=await e.get(te);if(!i?.token)return null;n.token=i.token;try{let o=await n.get("/api/v1/me"),r=new t(e,n,{...i,...o});return await r.unlock(),r}catch(o){return o.code==="unauthorized"?(n.token=null,await e.put(te,{device_id:i.device_id,user_id:i.user_id}),null):new t(e,n,i)}}static async login(e,{username:n,password:i,totp:o},r=new _e){let c=await e.get(te)||{},l={username:n,password:i,device_name:yt()};o&&(l.totp=o),c.device_id&&(l.device_id=c.device_id);let u;try{u=await r.post("/api/v1/auth/login",l)}catch(p){if(p.code!=="not_found"||!l.device_id)throw p;delete l.device_id,u=await r.post("/api/v1/auth/login",l)}c.user_id&&(c.user_id!==u.user_id||c.device_id!==u.device_id)&&await e.wipe(!1),r.token=u.token;let f=await r.get("/api/v1/me"),h={...u,...f},m=new t(e,r,h);return await m.unlock(),await e.put(te,h),m}async unlock(){let{key:e}=await this.api.post("/api/v1/auth/vault-key");await this.vault.unlock(e)}async signOut(){try{await this.api.post("/api/v1/auth/logout")}catch{}this.api.token=null,await this.vault.put(te,{device_id:this.deviceId,user_id:this.userId}),this.vault.lock()}async endedElsewhere(){this.api.token=null,await this.vault.put(te,{device_id:this.deviceId,user_id:this.userId}),this.vault.lock()}async forgetDevice(e=null){let n=!1;if(e)try{await e(),n=!0}catch{}if(!n)try{await this.api.delete(`/api/v1/devices/${encodeURIComponent(this.deviceId)}`)}catch{}try{await this.api.post("/api/v1/auth/logout")}catch{}this.api.token=null,await this.vault.wipe()}};function yt(){let t=navigator.userAgent,e=/Firefox\//.test(t)?"Firefox":/Edg\//.test(t)?"Edge":/Chrom/.test(t)?"Chrome":/Safari\//.test(t)?"Safari":"Browser",n=/Windows/.test(t)?"Windows":/Android/.test(t)?"Android":/iPhone|iPad/.test(t)?"iOS":/Mac OS/.test(t)?"macOS":/Linux/.test(t)?"Linux":"";return`${e}${n?" · "+n:""}`.slice(0,200)}var xe=30;function vt(t){return Math.max(1,Math.round(t/6e4))}function je(t){let e=new Map((t.participants||[]).map(f=>[f.participant_id,f])),n=f=>e.get(f)?.display_name||s("people.unknown"),i=[s("summary.title")],o=t.created_at,r=t.ended_at||Date.now();i.push(s("summary.when",{start:j(o),end:j(r),minutes:vt(r-o)}));let c=(t.participants||[]).filter(f=>f.admitted_at);i.push(s("summary.participants",{list:c.map(f=>`${n(f.participant_id)} (${s(`consult.role_${f.role}`)})`).join(", ")||s("summary.nobody")}));let l=new Map,u=[];for(let f of t.events||[]){if(f.kind!=="mode"||!f.detail?.mode)continue;let h=f.detail.previous||l.get(f.participant_id)||null;if(l.set(f.participant_id,f.detail.mode),!h||h===f.detail.mode)continue;let m=oe({mode:f.detail.mode,previous:h,reason:f.detail.reason}),p=s(`consult.mode_${ie(f.detail.mode)}`);u.push(`${j(f.ts)} ${n(f.participant_id)} : ${p}${m?` (${s(`consult.cause_${m}`)})`:""}`)}if(!u.length)i.push(s("summary.no_mode_change"));else{i.push(s("summary.mode_changes",{count:u.length}));for(let f of u.slice(0,xe))i.push(`- ${f}`);u.length>xe&&i.push(s("summary.more",{count:u.length-xe}))}return i.join(`
`)}var Pe="outbox",wt=new Set(["offline","not_connected","send_failed","unavailable","rate_limited","internal"]),me=class extends le{constructor(e,n){super(),this.vault=e,this.send=n,this.items=[],this.sending=null,this._draining=!1}async load(){this.items=await this.vault.get(Pe)||[]}async _save(){await this.vault.put(Pe,this.items)}async add(e,n){let i=`web-${crypto.randomUUID()}`;return this.items.push({id:i,room_id:e,content:n,ts:Date.now()}),await this._save(),this.emit("changed",e),this.drain(),i}forRoom(e){return this.items.filter(n=>n.room_id===e)}async drain(){if(this._draining)return;this._draining=!0;let e=null;try{for(;;){let n=this.items.find(i=>!i.failed);if(!n)break;e=n.room_id,this.sending=n.id,this.emit("changed",n.room_id);try{await this.send(n)}catch(i){if(wt.has(i?.code))break;n.failed=i?.code||"unknown"}n.failed||(this.items=this.items.filter(i=>i!==n)),await this._save(),this.emit("changed",n.room_id)}}finally{this.sending=null,this._draining=!1,e&&this.emit("changed",e)}}async discard(e){let n=this.items.find(i=>i.id===e);this.items=this.items.filter(i=>i.id!==e),await this._save(),n&&this.emit("changed",n.room_id)}};function _t(t){return{load:e=>t.get(e),save:(e,n)=>t.put(e,n),delete:e=>t.delete(e)}}function kt(t,e,n,i){return new Promise((o,r)=>{let c=new XMLHttpRequest;c.open("POST",`${t.baseUrl}/api/v1/rooms/${encodeURIComponent(e)}/attachments`),c.setRequestHeader("Authorization",`Bearer ${t.token}`),c.setRequestHeader("Content-Type","application/octet-stream"),c.responseType="json",c.upload.onprogress=l=>l.lengthComputable&&i(l.loaded/l.total),c.onload=()=>{let l=c.response||{};c.status>=200&&c.status<300?o(l):r(new se(l.error?.code||"internal",l.error?.message||`HTTP ${c.status}`,l.error?.details||{},c.status))},c.onerror=()=>r(new se(we,"upload failed")),c.send(n)})}function xt(t){return`relais-approve:${btoa(JSON.stringify(t))}`}function Ct(t){let e=()=>new se("bad_code","not an approval code"),n=/^relais-approve:([A-Za-z0-9+/=]+)$/.exec(String(t).trim());if(!n)throw e();let i;try{i=JSON.parse(atob(n[1]))}catch{throw e()}let o=["user","device","sign","dh"];if(!i||typeof i!="object"||Object.keys(i).length!==4||!o.every(r=>typeof i[r]=="string"))throw e();return i}var pe=class t extends le{constructor(e,n,i,o){super(),this.session=e,this.sdk=n,this.e2ee=i,this.outbox=o,this.names=new Map,this.rooms=[],this.canConsult=["clinician","admin"].includes(e.record.role),this.connected=!1}static async open(e){let n=new Te(location.origin,{transports:["websocket","polling"],reconnectionDelay:1e3,reconnectionDelayMax:3e4});n.useSession(e.token,e.userId,e.deviceId);let i=await Re.open(n,{storage:_t(e.vault)}),o,r=new me(e.vault,c=>o._sendQueued(c));return o=new t(e,n,i,r),await r.load(),o._wire(),o}get userId(){return this.sdk.userId}_wire(){let e=this.e2ee;e.on("message",n=>{let i=n.sender_user;i&&i!==this.userId&&!this.names.has(i)&&this.learnName(i,n.room_id),this.emit("timeline",n.room_id),this.emit("rooms")}),e.on("identity",n=>this.emit("identity",n)),e.on("room_changed",n=>{this.emit("room",n.room_id),this.emit("rooms")}),this.outbox.on("changed",n=>this.emit("timeline",n)),this.sdk.on("connect",()=>{this.connected=!0,this.emit("connection",!0),this.emit("rooms"),this.outbox.drain()}),this.sdk.on("disconnect",n=>{this.connected=!1,this.emit("connection",!1),n==="io server disconnect"&&this._checkSession()}),this.sdk.on("event",(n,i)=>{(n==="typing"||n==="receipt"||n==="presence")&&this.emit(n,i),(n==="receipt"||n==="room.member")&&this.emit("rooms"),n.startsWith("consult.")&&this.emit("consult",n,i)})}async _checkSession(){if(!this._closed){try{await this.sdk.request("GET","/api/v1/me")}catch(e){if(e?.code==="unauthorized"){this.emit("ended");return}}!this.sdk.connected&&!this._closed&&this.connect().catch(e=>e?.code==="unauthorized"&&this.emit("ended"))}}async deviceStatus(){return this.e2ee.hasIdentity?"ready":(await this.sdk.queryKeys([this.userId]))[this.userId]?.identity_key?"new_device":"first_device"}connect(){return this._connecting??=this._connectLoop().finally(()=>this._connecting=null),this._connecting}async _connectLoop(){let e=1e3;for(;!this._closed;)try{await this.e2ee.connect(),this.connected=!0,this.emit("connection",!0),this.emit("rooms"),this.outbox.drain();return}catch(n){if(n?.code==="unauthorized")throw n;this.emit("connection",!1),await new Promise(i=>setTimeout(i,e)),e=Math.min(e*2,3e4)}}async close(){this._closed=!0,await this.e2ee.close()}async bootstrap(e,n=()=>{}){await this.e2ee.bootstrap(e||null,{onProgress:n})}async startNewDevice(){return xt(await this.e2ee.startNewDevice())}whenApproved(e){let n=!1,i=()=>{!n&&this.e2ee.hasIdentity&&(n=!0,e())},o=this.e2ee.on("identity",i);return this.connect().catch(()=>{}),i(),()=>{n=!0,o()}}async restore(e,n=()=>{}){await this.e2ee.restoreFromBackup(e,{onProgress:n})}async approveDevice(e){await this.e2ee.approveDevice(Ct(e))}async devices(){let{sessions:e}=await this.sdk.request("GET","/api/v1/auth/sessions");await this.e2ee.directory.ensure([this.userId]).catch(()=>{});let n=new Set((this.e2ee.directory.lists.get(this.userId)?.devices||[]).map(o=>o.id)),i=new Map;for(let o of e){let r=i.get(o.device_id);(!r||o.created_at>r.created_at)&&i.set(o.device_id,o)}return[...i.values()].filter(o=>n.has(o.device_id)||e.some(r=>r.device_id===o.device_id&&r.active)).map(o=>({device_id:o.device_id,name:o.device_name,short_id:o.device_id.replace(/^d_/,"").slice(0,6),signed_in_at:o.created_at,last_seen_at:o.last_seen_at||o.created_at,current:o.device_id===this.session.deviceId})).sort((o,r)=>o.signed_in_at-r.signed_in_at)}async revokeDevice(e){await this.e2ee.revokeDevice(e)}async verificationFacts(e){return await this.e2ee.directory.ensure([e,this.userId]),this.e2ee.verificationFacts(e)}async markVerified(e){this.e2ee.markVerified(e),await this.e2ee.save()}trustOf(e){return this.e2ee.trustState(e)}whenConnected(){return this.connected?Promise.resolve():new Promise(e=>{let n=this.on("connection",i=>i&&(n(),e()))})}nameOf(e){return this.names.get(e)||s("people.unknown")}_learn(e){let n=!1;for(let i of e||[]){let o=i.display_name||i.username;o&&this.names.get(i.user_id)!==o&&(this.names.set(i.user_id,o),n=!0)}n&&this.emit("names")}learnName(e,n=null){if(this.names.has(e))return Promise.resolve(this.names.get(e));this._learning??=new Map,this._looked??=new Set;let i=n||"*";if(this._looked.has(`${i} ${e}`)&&!this._learning.has(i))return Promise.resolve(null);if(this._looked.add(`${i} ${e}`),!this._learning.has(i)){let o=async()=>n?[n]:(this.rooms.length?this.rooms:await this.listRooms()).map(c=>c.room_id),r=(async()=>{await this.whenConnected();for(let c of await o())if(await this.room(c),this.names.has(e))return})().catch(()=>{}).finally(()=>this._learning.delete(i));this._learning.set(i,r)}return this._learning.get(i).then(()=>this.names.get(e)||null)}async listRooms(){if(!this.sdk.connected)return this._localRooms();let{rooms:e}=await this.sdk.call("room.list");return this.rooms=e,e.map(n=>({...n,unread:Math.max(0,n.last_seq-n.read_seq),title:this.titleOf(n.room_id)}))}_localRooms(){let e=new Map;for(let n of this.e2ee.records.values()){let i=e.get(n.room_id);(!i||n.seq>i.seq)&&e.set(n.room_id,n)}return[...e.values()].map(n=>({room_id:n.room_id,last_seq:n.seq,read_seq:n.seq,last_activity_at:n.ts||0,unread:0,title:this.titleOf(n.room_id)}))}async room(e){let n=await this.sdk.call("room.get",{room_id:e});return this._learn(n.members),n}titleOf(e){let n=this.e2ee.messages(e).filter(o=>o.state==="decrypted"&&o.content?.type==="room.title"),i=n[n.length-1];return i?String(i.content.title||"").slice(0,200):null}roomTitle(e){return this.titleOf(e.room_id)||s("rooms.untitled",{id:e.room_id.slice(2,8)})}async createRoom(e){let n=await this.e2ee.createRoom(null);return e&&await this.e2ee.sendContent(n,{type:"room.title",title:e}),this.emit("rooms"),n}async receipts(e){return(await this.sdk.call("receipts.get",{room_id:e})).receipts}async markRead(e,n){try{await this.sdk.call("receipt.read",{room_id:e,seq:n}),this.emit("rooms")}catch{}}typing(e,n){this.sdk.call("typing",{room_id:e,typing:n}).catch(()=>{})}async presence(e){return(await this.sdk.call("presence.get",{user_ids:e.slice(0,200)})).presence}async searchPeople(e){let{people:n}=await this.sdk.request("GET",`/api/v1/people?q=${encodeURIComponent(e)}`);return this._learn(n),n}async addMember(e,n,{roomRole:i="member",consentMethod:o=null}={}){let r=null;o&&(r=(await this.sdk.request("POST",`/api/v1/rooms/${encodeURIComponent(e.room_id)}/consents`,{subject_user_id:n,method:o})).consent_id),await this.e2ee.addMember(e.room_id,n,{roomRole:i,consentId:r}),this.emit("room",e.room_id)}async removeMember(e,n){await this.e2ee.removeMember(e,n),this.emit("room",e)}timeline(e){let n=this.e2ee.messages(e),i=new Set;for(let r of n)r.sender_device===this.sdk.deviceId&&r.client_msg_id&&i.add(r.client_msg_id.replace(/\.\d+$/,""));let o=this.outbox.forRoom(e).filter(r=>!i.has(r.id)).map(r=>({id:r.id,pending:!0,sending:this.outbox.sending===r.id,failed:r.failed||null,sender_user:this.userId,ts:r.ts,content:r.content}));return[...n,...o]}async queueText(e,n){await this.outbox.add(e,{type:"text",body:n})}async _sendQueued(e){if(!this.sdk.connected)throw new se(we,"offline");await this.e2ee.sendContent(e.room_id,e.content,{clientMsgId:e.id})}async sendFile(e,n,i=()=>{}){let o=new Uint8Array(await n.arrayBuffer()),r=this.sdk,c=r.uploadAttachment;r.uploadAttachment=(l,u)=>kt(r,l,u,i);try{return await this.e2ee.sendFile(e,o,{name:n.name,mime:n.type||"application/octet-stream"})}finally{r.uploadAttachment=c}}async downloadFile(e){return this.e2ee.downloadFile(e)}async startConsultation(e,n,i){let o=await this.sdk.request("POST","/api/v1/consultations",{room_id:e}),r=await this.sdk.request("POST",`/api/v1/consultations/${encodeURIComponent(o.consultation_id)}/links`,{display_name:n,with_code:i});return{...o,link:new URL(r.url,location.origin).href,code:r.code,expires_at:r.expires_at}}async openConsultations(e){let{consultations:n}=await this.sdk.request("GET","/api/v1/consultations");return n.filter(i=>i.role==="host"&&i.status==="open"&&(e?i.room_id===e:i.assisted&&!i.room_id))}async consultation(e){return this.sdk.request("GET",`/api/v1/consultations/${encodeURIComponent(e)}`)}async joinConsultation(e){return this.sdk.call("consult.join",{consultation_id:e})}async admit(e,n){return this.sdk.call("consult.admit",{consultation_id:e,participant_id:n})}async deny(e,n){return this.sdk.call("consult.deny",{consultation_id:e,participant_id:n})}async endConsultation(e){return this.sdk.call("consult.end",{consultation_id:e})}async postConsultationSummary(e,n){let i=await this.sdk.request("GET",`/api/v1/consultations/${encodeURIComponent(e)}/record`);await this.queueText(n,je(i))}mediaSignal(){return{call:(e,n,i)=>this.sdk.call(e,n,i),subscribe:e=>this.on("consult",e)}}async findClinicians(e){let{people:n}=await this.sdk.request("GET",`/api/v1/people?q=${encodeURIComponent(e)}`);return n.filter(i=>i.role==="clinician")}async openAssisted(e){return this.sdk.request("POST","/api/v1/consultations/assisted",e)}async openAssistedSessions(){let{consultations:e}=await this.sdk.request("GET","/api/v1/consultations");return e.filter(n=>n.assisted&&n.role==="assistant"&&n.status==="open"&&["waiting","admitted"].includes(n.state))}async leaveLeftover(e){let n=(await this.consultation(e)).chat_room_id;await this.forgetRoom(n),await this.leaveConsultation(e),await this.leaveRoomIfMember(n),await this.forgetRoom(n)}async leaveRoomIfMember(e){if(!e)return;let{rooms:n}=await this.sdk.call("room.list");if(n.some(i=>i.room_id===e))try{await this.sdk.request("DELETE",`/api/v1/rooms/${encodeURIComponent(e)}/members/${encodeURIComponent(this.userId)}`,{})}catch(i){if(i?.code!=="conflict")throw i;await this.e2ee.removeMember(e,this.userId)}}async leaveConsultation(e){return this.sdk.call("consult.leave",{consultation_id:e})}async forgetRoom(e){if(e){if(!this.forgotten){this.forgotten=new Set;let n=this.sdk,i=n.onEvent,o=n.onMessage,r=c=>c&&this.forgotten.has(c.room_id);n.onEvent=(c,l)=>r(l)?void 0:i?.(c,l),n.onMessage=c=>r(c)?void 0:o?.(c),this.e2ee.on("message",c=>r(c)&&this._forget(c.room_id))}this.forgotten.add(e),await this._forget(e)}}async _forget(e){let n=this.e2ee.state,i=this.sdk.inbox,o=c=>c===e||typeof c=="string"&&c.startsWith("[")&&JSON.parse(c)[0]===e;for(let[c,l]of[...n.records])l.room_id===e&&(n.records.delete(c),i.seen.delete(c));for(let c of i.messages[e]||[])i.seen.delete(c.id);delete i.since[e],delete i.messages[e],delete i.ahead[e];let r=n.chains;for(let c of[n.outbound,n.inbound,n.waiting,n.requested,n.order,r.states,r.events,r.frozen,r._joinedAt,this.e2ee.sender.revocationsAt])for(let l of[...c.keys()])o(l)&&c.delete(l);for(let c of[n.inbound_forwarded,r.rejoined,r.dirty])for(let l of[...c])o(l)&&c.delete(l);r.warnings=r.warnings.filter(c=>c.room!==e&&c.room_id!==e),await this.e2ee.save()}};function Be({onSignIn:t,initialError:e=""}){let[n,i]=d(""),[o,r]=d(""),[c,l]=d(""),[u,f]=d(!1),[h,m]=d(!1),[p,$]=d(e),y=k(null),w=k(null);M(()=>y.current?.focus(),[]),M(()=>{p&&w.current?.focus()},[p]);async function b(C){if(C.preventDefault(),!h){m(!0),$("");try{await t({username:n.trim(),password:o,totp:u&&c?c:void 0})}catch(v){if(v.code==="account_locked"){let _=Math.max(1,Math.ceil((v.details?.retry_after_ms||6e4)/6e4));$(s("signin.locked",{minutes:_}))}else v.code==="invalid_credentials"?($(s("signin.failed")),f(!0)):$(E(v.code));m(!1)}}}return a`
    <main id="main" class="signin" tabindex="-1">
      <h1>${s("signin.title")}</h1>
      <p>${s("signin.intro")}</p>
      <form onSubmit=${b} novalidate>
        ${p&&a`<p class="error" role="alert" tabindex="-1" ref=${w} id="signin-error">${p}</p>`}
        <label for="signin-username">${s("signin.username")}</label>
        <input
          id="signin-username"
          name="username"
          ref=${y}
          autocomplete="username"
          autocapitalize="none"
          spellcheck=${!1}
          required
          value=${n}
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
          <input id="signin-usecode" type="checkbox" checked=${u} onChange=${C=>f(C.currentTarget.checked)} />
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
        <button type="submit" class="primary" disabled=${h} aria-busy=${h?"true":"false"}>
          ${h?s("signin.busy"):s("signin.submit")}
        </button>
      </form>
    </main>
  `}async function St(t){let{default:e}=await import("./qrcode-VZ7J5ZJR.js"),n=e(0,"M");n.addData(t),n.make();let i=n.getModuleCount(),o=4,r="";for(let u=0;u<i;u++)for(let f=0;f<i;f++)n.isDark(u,f)&&(r+=`M${f+o} ${u+o}h1v1h-1z`);let c=i+2*o,l=`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${c} ${c}" shape-rendering="crispEdges"><rect width="100%" height="100%" fill="#fff"/><path d="${r}" fill="#000"/></svg>`;return`data:image/svg+xml;charset=utf-8,${encodeURIComponent(l)}`}function fe({text:t,label:e}){let[n,i]=d("");return T(()=>{let o=!0;return St(t).then(r=>o&&i(r)),()=>{o=!1}},[t]),n?a`<img class="qr" src=${n} alt=${e} width="220" height="220" />`:null}var ze=12;function Et({value:t,label:e}){return a`<div class="progress" role="status">
    <label for="kdf-progress">${e}</label>
    <progress id="kdf-progress" max="1" value=${t}></progress>
    <span>${Math.round(t*100)} %</span>
  </div>`}function Ie({confirmField:t,submitLabel:e,onSubmit:n,busyLabel:i}){let[o,r]=d(""),[c,l]=d(""),[u,f]=d(null),[h,m]=d(""),p=k(null);M(()=>p.current?.focus(),[]);async function $(y){if(y.preventDefault(),m(""),t&&o.length<ze)return m(s("setup.too_short",{n:ze}));if(t&&o!==c)return m(s("setup.mismatch"));f(0);try{await n(o,w=>f(w))}catch(w){f(null),m(w.code==="bad_ciphertext"||w.code==="bad_passphrase"?s("setup.wrong_passphrase"):E(w.code))}}return a`<form onSubmit=${$}>
    ${h&&a`<p class="error" role="alert">${h}</p>`}
    <label for="setup-pass">${s("setup.passphrase")}</label>
    <input id="setup-pass" ref=${p} type="password" autocomplete=${t?"new-password":"current-password"} value=${o} onInput=${y=>r(y.currentTarget.value)} />
    ${t&&a`<label for="setup-again">${s("setup.passphrase_again")}</label>
      <input id="setup-again" type="password" autocomplete="new-password" value=${c} onInput=${y=>l(y.currentTarget.value)} />`}
    ${u!==null&&a`<${Et} value=${u} label=${i} />`}
    <button type="submit" class="primary" disabled=${u!==null}>${e}</button>
  </form>`}function Fe({app:t,status:e,onReady:n}){let[i,o]=d("approve"),[r,c]=d(""),[l,u]=d(""),f=k(null);return M(()=>{let h=document.activeElement;(!h||h===document.body)&&f.current?.focus()},[e]),T(()=>{if(e==="new_device")return t.startNewDevice().then(c,()=>{}),t.whenApproved(n)},[e]),e==="first_device"?a`<main id="main" class="setup" tabindex="-1">
      <h1 tabindex="-1" ref=${f}>${s("setup.first_title")}</h1>
      <p>${s("setup.first_intro")}</p>
      <${Ie}
        confirmField=${!0}
        submitLabel=${s("setup.first_submit")}
        busyLabel=${s("setup.protecting")}
        onSubmit=${async(h,m)=>{await t.bootstrap(h,m),n()}}
      />
      <p class="hint">${s("setup.skip_hint")}</p>
      ${l&&a`<p class="error" role="alert">${l}</p>`}
      <button type="button" onClick=${()=>t.bootstrap(null).then(n,h=>u(E(h.code)))}>${s("setup.skip")}</button>
    </main>`:a`<main id="main" class="setup" tabindex="-1">
    <h1 tabindex="-1" ref=${f}>${s("setup.new_title")}</h1>
    <p>${s("setup.new_intro")}</p>
    <div role="group" aria-label=${s("setup.new_how")} class="row">
      <button type="button" aria-pressed=${i==="approve"} onClick=${()=>o("approve")}>${s("setup.by_other_device")}</button>
      <button type="button" aria-pressed=${i==="restore"} onClick=${()=>o("restore")}>${s("setup.by_passphrase")}</button>
    </div>
    ${i==="approve"?a`<section aria-labelledby="approve-title">
          <h2 id="approve-title">${s("setup.by_other_device")}</h2>
          <p>${s("setup.approve_steps")}</p>
          ${r&&a`<${fe} text=${r} label=${s("setup.code_qr")} />`}
          <label for="approval-code">${s("setup.code_text")}</label>
          <textarea id="approval-code" readonly rows="3" value=${r}></textarea>
          <p role="status">${s("setup.waiting_approval")}</p>
        </section>`:a`<section aria-labelledby="restore-title">
          <h2 id="restore-title">${s("setup.by_passphrase")}</h2>
          <${Ie}
            confirmField=${!1}
            submitLabel=${s("setup.restore_submit")}
            busyLabel=${s("setup.unlocking")}
            onSubmit=${async(h,m)=>{await t.restore(h,m),n()}}
          />
        </section>`}
  </main>`}var Tt=8*1024*1024;function Rt(t){return t<1e3?s("size.bytes",{n:t}):t<1e6?s("size.kb",{n:Math.round(t/100)/10}):s("size.mb",{n:Math.round(t/1e5)/10})}function Mt(t){let e=`message.failed.${t}`,n=s(e);return n===e?s("message.failed.other"):n}function qt({content:t,app:e}){let[n,i]=d(null),[o,r]=d(""),[c,l]=d(!1),u=/^image\/(png|jpeg|gif|webp)$/.test(t.mime||"");async function f(){let m=await e.downloadFile(t);return new Blob([m],{type:t.mime||"application/octet-stream"})}T(()=>{if(!u||t.size>Tt)return;let m=null,p=!0;return f().then($=>{p&&(m=URL.createObjectURL($),i(m))}).catch(()=>p&&r(s("file.unreadable"))),()=>{p=!1,m&&URL.revokeObjectURL(m)}},[t.attachment_id]);async function h(){l(!0),r("");try{let m=await f(),p=document.createElement("a");p.href=URL.createObjectURL(m),p.download=String(t.name||"document"),document.body.append(p),p.click(),p.remove(),setTimeout(()=>URL.revokeObjectURL(p.href),1e4)}catch{r(s("file.unreadable"))}finally{l(!1)}}return a`<div class="file">
    ${n&&a`<img src=${n} alt=${s("file.preview_of",{name:t.name||""})} />`}
    <p>
      <span class="file-name">${t.name||s("file.unnamed")}</span>
      <span class="file-size"> · ${Rt(Number(t.size)||0)}</span>
    </p>
    <button type="button" onClick=${h} disabled=${c}>
      ${c?s("file.decrypting"):s("file.download",{name:t.name||""})}
    </button>
    ${o&&a`<p class="error" role="alert">${o}</p>`}
  </div>`}function Dt({item:t,app:e}){if(t.pending&&t.failed)return a`<p class="body">${t.content.body}</p>
      <p class="state failed">${s("outbox.failed")}</p>
      <button type="button" onClick=${()=>e.outbox.discard(t.id)}>${s("outbox.discard")}</button>`;if(t.pending)return a`<p class="body">${t.content.type==="file"?t.content.name:t.content.body}</p>`;if(t.state==="waiting_for_key")return a`<p class="body state">${s("message.waiting")}</p>`;if(t.state==="failed")return a`<p class="body state failed">${Mt(t.error)}</p>`;let n=t.content||{};return n.type==="text"?a`<p class="body">${String(n.body??"")}</p>`:n.type==="file"?a`<${qt} content=${n} app=${e} />`:n.type==="room.title"?a`<p class="body state">${s("room.titled",{title:String(n.title??"")})}</p>`:a`<p class="body state">${s("message.unsupported")}</p>`}function Ke({item:t,app:e,readers:n,mine:i}){let o=i?s("message.me"):e.nameOf(t.sender_user);return a`<li class=${`message${i?" mine":""}${t.pending?" pending":""}`}>
    <p class="meta">
      <span class="sender">${o}</span>
      ${t.ts&&a` <time datetime=${new Date(t.ts).toISOString()}>${j(t.ts)}</time>`}
      ${t.pending&&a` <span class="status">${t.sending?s("outbox.sending"):s("outbox.pending")}</span>`}
    </p>
    <${Dt} item=${t} app=${e} />
    ${n.length>0&&a`<p class="readers">${s("receipts.read_by",{names:n.join(", ")})}</p>`}
  </li>`}var At=3e3,Ot=4e3;function Ge({app:t,roomId:e}){let[n,i]=d(""),[o,r]=d(null),[c,l]=d(""),u=k({sentAt:0,idle:0}),f=k(null);function h(){let w=Date.now();w-u.current.sentAt>At&&(u.current.sentAt=w,t.typing(e,!0)),clearTimeout(u.current.idle),u.current.idle=setTimeout(m,Ot)}function m(){clearTimeout(u.current.idle),u.current.sentAt&&t.typing(e,!1),u.current.sentAt=0}async function p(w){w?.preventDefault();let b=n.trim();if(b){i(""),m();try{await t.queueText(e,b)}catch(C){i(b),l(E(C.code))}}}function $(w){w.key==="Enter"&&!w.shiftKey&&!w.isComposing&&p(w)}async function y(w){let b=w.currentTarget.files?.[0];if(w.currentTarget.value="",!!b){l(""),r({name:b.name,done:0});try{await t.sendFile(e,b,C=>r({name:b.name,done:C}))}catch(C){l(E(C.code))}finally{r(null)}}}return a`<form class="composer" onSubmit=${p}>
    ${c&&a`<p class="error" role="alert">${c}</p>`}
    ${o&&a`<div class="upload" role="status">
      <label for="upload-progress">${s("file.uploading",{name:o.name})}</label>
      <progress id="upload-progress" max="1" value=${o.done}></progress>
    </div>`}
    <label for="composer-text">${s("composer.label")}</label>
    <div class="composer-row">
      <textarea id="composer-text" rows="2" value=${n} aria-describedby="composer-hint" onInput=${w=>(i(w.currentTarget.value),h())} onKeyDown=${$} onBlur=${m}></textarea>
      <button type="submit" class="primary">${s("composer.send")}</button>
    </div>
    <p id="composer-hint" class="hint">${s("composer.hint")}</p>
    <input ref=${f} id="composer-file" type="file" class="visually-hidden" accept="image/*,application/pdf" onChange=${y} />
    <label for="composer-file" class="button-like">${s("composer.attach")}</label>
  </form>`}var Ve=new Set(["clinician","admin"]);function Lt({app:t,room:e,onDone:n,onCancel:i}){let[o,r]=d(""),[c,l]=d(null),[u,f]=d(null),[h,m]=d("member"),[p,$]=d(""),[y,w]=d(!1),[b,C]=d(""),v=k(null),_=k(null);M(()=>v.current?.focus(),[]),M(()=>{u&&_.current?.focus()},[u]);async function R(D){D.preventDefault(),C("");try{let g=await t.searchPeople(o.trim()),B=new Set(e.members.map(F=>F.user_id));l(g.filter(F=>!B.has(F.user_id)))}catch(g){C(E(g.code))}}let A=u&&!Ve.has(u.role)&&u.user_id!==e.patient_user_id;async function q(D){D.preventDefault(),w(!0),C("");try{await t.addMember(e,u.user_id,{roomRole:h,consentMethod:A?p:null}),n(s("members.added",{name:u.display_name||u.username}))}catch(g){C(g.code==="consent_required"?s("members.consent_needed"):E(g.code)),w(!1)}}if(u){let D=u.display_name||u.username;return a`<form class="add-member" onSubmit=${q}>
      <h3 tabindex="-1" ref=${_}>${s("members.add_who",{name:D})}</h3>
      ${b&&a`<p class="error" role="alert">${b}</p>`}
      ${Ve.has(u.role)&&a`<fieldset>
        <legend>${s("members.room_role")}</legend>
        ${["member","owner"].map(g=>a`<div class="check">
            <input type="radio" id=${`role-${g}`} name="room_role" value=${g} checked=${h===g} onChange=${()=>m(g)} />
            <label for=${`role-${g}`}>${s(`room_role.${g}`)}</label>
          </div>`)}
      </fieldset>`}
      ${A&&!e.patient_user_id&&a`<p class="hint" id="no-patient">${s("members.no_patient")}</p>`}
      ${A&&e.patient_user_id&&a`<fieldset>
        <legend>${s("members.consent_question")}</legend>
        <p class="hint">${s("members.consent_hint")}</p>
        ${["verbal","written"].map(g=>a`<div class="check">
            <input type="radio" id=${`consent-${g}`} name="consent" value=${g} required checked=${p===g} onChange=${()=>$(g)} />
            <label for=${`consent-${g}`}>${s(`consent.${g}`)}</label>
          </div>`)}
      </fieldset>`}
      <div class="row">
        <button type="submit" class="primary" disabled=${y||A&&(!p||!e.patient_user_id)} aria-describedby=${A&&!e.patient_user_id?"no-patient":void 0}>${s("members.add_confirm")}</button>
        <button type="button" onClick=${()=>f(null)}>${s("common.back")}</button>
      </div>
    </form>`}return a`<form class="add-member" onSubmit=${R} role="search">
    <label for="people-q">${s("members.search")}</label>
    <p class="hint" id="people-hint">${s("members.search_hint")}</p>
    <div class="row">
      <input id="people-q" ref=${v} value=${o} minlength="2" aria-describedby="people-hint" onInput=${D=>r(D.currentTarget.value)} />
      <button type="submit" disabled=${o.trim().length<2}>${s("members.search_go")}</button>
      <button type="button" onClick=${i}>${s("common.cancel")}</button>
    </div>
    ${b&&a`<p class="error" role="alert">${b}</p>`}
    ${c&&a`<div role="status">${c.length===0?s("members.nobody"):s("members.found",{count:c.length})}</div>
      <ul class="people">
        ${c.map(D=>a`<li key=${D.user_id}>
            <button type="button" onClick=${()=>f(D)}>
              ${D.display_name||D.username} <span class="muted">(${D.username}, ${s(`role.${D.role}`)})</span>
            </button>
          </li>`)}
      </ul>`}
  </form>`}function Ut(t){return t==="verified"?a`<span class="trust verified">${s("verify.badge_verified")}</span>`:t==="changed"?a`<span class="trust changed">${s("verify.badge_changed")}</span>`:null}function He({app:t,room:e,onClose:n}){let[i,o]=d({}),[,r]=d(0),[c,l]=d(!1),[u,f]=d(""),[h,m]=d(""),p=k(null),$=k(null),y=k(!1);if(M(()=>p.current?.focus(),[]),M(()=>{!c&&y.current&&$.current?.focus(),y.current=c},[c]),T(()=>t.on("identity",()=>r(v=>v+1)),[]),T(()=>{if(e)return t.presence(e.members.map(v=>v.user_id)).then(o,()=>{}),t.on("presence",v=>o(_=>({..._,[v.user_id]:v.online})))},[e]),!e)return a`<p>${s("app.loading")}</p>`;let b=e.members.find(v=>v.user_id===t.userId)?.room_role==="owner";async function C(v){let _=v.display_name||t.nameOf(v.user_id);if(confirm(s("members.remove_confirm",{name:_}))){m("");try{await t.removeMember(e.room_id,v.user_id),f(s("members.removed",{name:_}))}catch(R){m(E(R.code))}}}return a`<section aria-labelledby="members-title" class="members">
    <h2 id="members-title" tabindex="-1" ref=${p}>${s("members.title")}</h2>
    <p role="status">${u}</p>
    ${h&&a`<p class="error" role="alert">${h}</p>`}
    <ul>
      ${e.members.map(v=>a`<li key=${v.user_id}>
          <span class=${`dot ${i[v.user_id]?"on":"off"}`} aria-hidden="true"></span>
          <span class="name">${v.display_name||t.nameOf(v.user_id)}${v.user_id===t.userId?` (${s("message.me")})`:""}</span>
          <span class="muted">
            ${s(`role.${v.role}`)} · ${s(`room_role.${v.room_role}`)} · ${i[v.user_id]?s("presence.online"):s("presence.offline")}
          </span>
          ${v.user_id!==t.userId&&Ut(t.trustOf(v.user_id))}
          ${t.verification&&v.user_id!==t.userId&&v.role!=="patient"&&a`<button type="button" onClick=${()=>t.verification(v.user_id)}>${s("verify.open",{name:v.display_name||t.nameOf(v.user_id)})}</button>`}
          ${b&&v.user_id!==t.userId&&a`<button type="button" class="danger" onClick=${()=>C(v)}>
            ${s("members.remove",{name:v.display_name||t.nameOf(v.user_id)})}
          </button>`}
        </li>`)}
    </ul>
    ${b&&(c?a`<${Lt} app=${t} room=${e} onDone=${v=>(l(!1),f(v))} onCancel=${()=>l(!1)} />`:a`<button type="button" ref=${$} onClick=${()=>l(!0)}>${s("members.add")}</button>`)}
    <button type="button" onClick=${n}>${s("common.close")}</button>
  </section>`}function We({app:t,roomId:e,onClose:n}){let[i,o]=d(""),[r,c]=d(!0),[l,u]=d(null),[f,h]=d(!1),[m,p]=d(!1),[$,y]=d(""),w=k(null),b=k(null);M(()=>w.current?.focus(),[]),M(()=>{l&&b.current?.focus()},[l]);async function C(_){_.preventDefault(),h(!0),y("");try{u(await t.startConsultation(e,i.trim(),r))}catch(R){y(E(R.code))}finally{h(!1)}}async function v(){try{await navigator.clipboard.writeText(l.link),p(!0)}catch{p(!1)}}return l?a`<section class="consult-made" aria-labelledby="consult-made-title">
      <h2 id="consult-made-title" tabindex="-1" ref=${b}>${s("consult.created")}</h2>
      <p>${s("consult.link_intro")}</p>
      <label for="consult-link">${s("consult.link")}</label>
      <div class="row">
        <input id="consult-link" readonly value=${l.link} onFocus=${_=>_.currentTarget.select()} />
        <button type="button" onClick=${v}>${s("consult.copy")}</button>
      </div>
      <p role="status">${m?s("consult.copied"):""}</p>
      ${l.code&&a`<p>${s("consult.code",{code:l.code})}</p>`}
      <p class="hint">${s("consult.link_once")}</p>
      <div class="row">
        <a class="button-like primary" href=${`#/rooms/${encodeURIComponent(e)}/consultations/${encodeURIComponent(l.consultation_id)}`}>${s("consult.open")}</a>
        <button type="button" onClick=${n}>${s("common.close")}</button>
      </div>
    </section>`:a`<form class="consult-start" onSubmit=${C} aria-labelledby="consult-title">
    <h2 id="consult-title">${s("consult.start")}</h2>
    ${$&&a`<p class="error" role="alert">${$}</p>`}
    <label for="consult-name">${s("consult.patient_name")}</label>
    <p class="hint" id="consult-name-hint">${s("consult.patient_name_hint")}</p>
    <input id="consult-name" ref=${w} required maxlength="120" aria-describedby="consult-name-hint" value=${i} onInput=${_=>o(_.currentTarget.value)} />
    <div class="check">
      <input id="consult-code" type="checkbox" checked=${r} onChange=${_=>c(_.currentTarget.checked)} />
      <label for="consult-code">${s("consult.with_code")}</label>
    </div>
    <div class="row">
      <button type="submit" class="primary" disabled=${f||!i.trim()}>${s("consult.create")}</button>
      <button type="button" onClick=${n}>${s("common.cancel")}</button>
    </div>
  </form>`}function Qe({app:t,roomId:e}){let[n,i]=d(()=>t.timeline(e)),[o,r]=d(null),[c,l]=d({}),[u,f]=d([]),[h,m]=d(null),[p,$]=d(""),y=k(null),w=k(null);M(()=>y.current?.focus(),[e]),T(()=>{i(t.timeline(e)),m(null);let _=g=>["offline","not_connected"].includes(g?.code),R=()=>t.room(e).then(g=>(r(g),$(""))).catch(g=>!_(g)&&$(E(g.code))),A=()=>t.receipts(e).then(l).catch(()=>{});t.connected&&(R(),A());let q=new Map,D=[t.on("timeline",g=>g===e&&i(t.timeline(e))),t.on("names",()=>i(t.timeline(e))),t.on("connection",g=>{g&&(i(t.timeline(e)),R(),A())}),t.on("room",g=>g===e&&R()),t.on("receipt",g=>g.room_id===e&&l(B=>({...B,[g.user_id]:Math.max(B[g.user_id]||0,g.seq)}))),t.on("typing",g=>{g.room_id===e&&(clearTimeout(q.get(g.user_id)),g.typing?q.set(g.user_id,setTimeout(()=>(q.delete(g.user_id),f([...q.keys()])),8e3)):q.delete(g.user_id),f([...q.keys()]))})];return()=>{D.forEach(g=>g()),q.forEach(g=>clearTimeout(g))}},[e]);let b=n.reduce((_,R)=>R.seq&&R.seq>_?R.seq:_,0);T(()=>{w.current?.scrollIntoView({block:"end"}),b>0&&document.visibilityState==="visible"&&t.markRead(e,b)},[b,n.length]);let C=Ee(()=>{let _=n.filter(A=>A.seq&&A.sender_user===t.userId),R=new Map;for(let[A,q]of Object.entries(c)){if(A===t.userId)continue;let D=[..._].reverse().find(g=>g.seq<=q);D&&R.set(D.id,[...R.get(D.id)||[],t.nameOf(A)])}return R},[n,c]),v=o?t.roomTitle(o):t.titleOf(e)||s("app.loading");return a`
    <section class="room" aria-labelledby="room-title">
      <header class="room-head">
        <h1 id="room-title" tabindex="-1" ref=${y}>${v}</h1>
        <div class="room-actions">
          <button type="button" aria-expanded=${h==="members"} aria-controls="room-panel" onClick=${()=>m(h==="members"?null:"members")}>
            ${s("members.title")}${o?` (${o.members.length})`:""}
          </button>
          ${t.canConsult&&a`<button type="button" class="primary" aria-expanded=${h==="consultation"} aria-controls="room-panel" onClick=${()=>m(h==="consultation"?null:"consultation")}>
            ${s("consult.start")}
          </button>`}
          ${t.canConsult&&a`<a class="button-like" href=${`#/rooms/${encodeURIComponent(e)}/consultations`}>${s("consult.all_open")}</a>`}
        </div>
      </header>
      ${p&&a`<p class="error" role="alert">${p}</p>`}
      ${h&&a`<div id="room-panel" class="panel">
        ${h==="members"?a`<${He} app=${t} room=${o} onClose=${()=>m(null)} />`:a`<${We} app=${t} roomId=${e} onClose=${()=>m(null)} />`}
      </div>`}
      <div class="timeline" role="log" aria-label=${s("room.messages")} aria-live="polite" aria-relevant="additions">
        ${n.length===0&&a`<p class="empty">${s("room.empty")}</p>`}
        <ol>
          ${n.map(_=>a`<${Ke} key=${_.id} item=${_} app=${t} mine=${_.sender_user===t.userId} readers=${C.get(_.id)||[]} />`)}
        </ol>
      </div>
      <div ref=${w}></div>
      <p class="typing" role="status">${u.length?s("room.typing",{names:u.map(_=>t.nameOf(_)).join(", ")}):""}</p>
      <${Ge} app=${t} roomId=${e} />
    </section>
  `}function Ye({app:t}){let[e,n]=d(null),[i,o]=d(""),[r,c]=d(""),[l,u]=d(""),f=k(null);async function h(){try{n(await t.devices())}catch($){u(E($.code))}}M(()=>f.current?.focus(),[]),T(()=>{h()},[]);async function m($){$.preventDefault(),u(""),c("");try{await t.approveDevice(i.trim()),o(""),c(s("devices.approved")),h()}catch(y){u(y.code==="bad_code"?s("devices.bad_code"):E(y.code))}}async function p($){let y=s("devices.name",{name:$.name,id:$.short_id});if(confirm(s("devices.revoke_confirm",{name:y}))){u(""),c("");try{await t.revokeDevice($.device_id),c(s("devices.revoked",{name:y})),h()}catch(w){u(E(w.code))}}}return a`<section class="devices" aria-labelledby="devices-title">
    <h1 id="devices-title" tabindex="-1" ref=${f}>${s("devices.title")}</h1>
    <p role="status">${r}</p>
    ${l&&a`<p class="error" role="alert">${l}</p>`}
    ${e===null?a`<p>${s("app.loading")}</p>`:a`<ul class="device-list" aria-label=${s("devices.list")}>
          ${e.map($=>{let y=s("devices.name",{name:$.name,id:$.short_id});return a`<li key=${$.device_id}>
              <span class="name">${y}${$.current?` (${s("devices.this_one")})`:""}</span>
              <span class="muted">${s("devices.signed_in",{when:j($.signed_in_at)})} · ${s("devices.last_seen",{when:j($.last_seen_at)})}</span>
              ${!$.current&&a`<button type="button" class="danger" onClick=${()=>p($)}>${s("devices.revoke",{name:y})}</button>`}
            </li>`})}
        </ul>`}
    <form onSubmit=${m} class="approve">
      <h2>${s("devices.approve_title")}</h2>
      <p class="hint" id="approve-hint">${s("devices.approve_hint")}</p>
      <label for="approve-code">${s("devices.approve_code")}</label>
      <textarea id="approve-code" rows="3" aria-describedby="approve-hint" value=${i} onInput=${$=>o($.currentTarget.value)}></textarea>
      <button type="submit" class="primary" disabled=${!i.trim()}>${s("devices.approve")}</button>
    </form>
  </section>`}function Je({app:t,userId:e,onClose:n}){let[i,o]=d(null),[r,c]=d(""),[l,u]=d(()=>t.nameOf(e)),f=k(null),h=k(null);M(()=>f.current?.focus(),[e]),T(()=>{let $=()=>t.verificationFacts(e).then(o,y=>c(E(y.code)));return $(),t.learnName(e).then(y=>y&&u(y)),t.on("identity",y=>y===e&&$())},[e]);async function m(){try{await t.markVerified(e),h.current?.focus()}catch($){c(E($.code))}}let p=i?i.number.match(/.{1,5}/g):[];return a`<section class="verify" aria-labelledby="verify-title">
    <h2 id="verify-title" tabindex="-1" ref=${f}>${s("verify.title",{name:l})}</h2>
    ${r&&a`<p class="error" role="alert">${r}</p>`}
    ${i&&a`<p>${s("verify.intro",{name:l})}</p>
      <p class="safety-number" aria-label=${s("verify.number_label")}>
        ${p.map($=>a`<span>${$}</span> `)}
      </p>
      <${fe} text=${i.qr} label=${s("verify.qr_label",{name:l})} />
      <p role="status" tabindex="-1" ref=${h}>${i.state==="verified"?s("verify.is_verified",{name:l}):i.state==="changed"?s("verify.changed",{name:l}):s("verify.not_yet")}</p>
      ${i.state!=="verified"&&a`<button type="button" class="primary" onClick=${m}>${s("verify.match")}</button>`}`}
    <button type="button" onClick=${n}>${s("common.close")}</button>
  </section>`}function he(t,e,n){let[i,o]=d(null);return T(()=>{if(!n)return;let r=new Me(t.mediaSignal(),e);window.relaisCall=r,o(r),r.start();let c=t.on("connection",l=>l&&r.resume());return()=>{c(),r.hangup(),window.relaisCall===r&&delete window.relaisCall,o(null)}},[e,n]),i}function $e({leg:t,patientName:e,names:n}){let[i,o]=d(""),[r,c]=d({mic:t.micOn,camera:t.cameraOn,hasMic:!0,hasCamera:!0}),l=k(n);l.current=n,T(()=>{let m=[t.on("state",p=>{p==="connected"?o(s("consult.call_connected")):p==="reconnecting"&&o(s("consult.call_reconnecting"))}),t.on("devices",p=>{c({mic:t.micOn,camera:t.cameraOn,hasMic:p.audio,hasCamera:p.video}),p.problem&&o(s(`consult.devices_${p.problem}`))}),t.on("local",p=>c($=>({...$,mic:p.mic,camera:p.camera}))),t.on("mode",p=>{if(!p.previous)return;let $=oe(p),y=p.participant_id===t.participantId?s("consult.you"):l.current.get(p.participant_id)||s("people.unknown"),w=s(`consult.mode_${ie(p.mode)}`);o($?s("consult.mode_changed_why",{name:y,mode:w,cause:s(`consult.cause_${$}`)}):s("consult.mode_changed",{name:y,mode:w}))})];return()=>m.forEach(p=>p())},[t]);function u(){let m=!r.mic;t.setMicrophone(m)&&o(s(m?"consult.mic_on":"consult.mic_off"))}function f(){let m=!r.camera;t.setCamera(m)&&o(s(m?"consult.camera_on":"consult.camera_off"))}let h=e||s("people.unknown");return a`<section class="call" aria-labelledby="call-title">
    <h2 id="call-title">${s("consult.call_title")}</h2>
    <p class="call-status" role="status">${i}</p>
    <div class="stage">
      <${qe} leg=${t} name=${h} label=${s("consult.remote_video",{name:h})} noPicture=${s("consult.no_picture",{name:h})} />
      <${De} leg=${t} />
    </div>
    <div class="row" role="group" aria-label=${s("consult.call_controls")}>
      <button type="button" aria-pressed=${r.mic?"false":"true"} disabled=${!r.hasMic} onClick=${u}>${s("consult.mic_mute")}</button>
      <button type="button" aria-pressed=${r.camera?"false":"true"} disabled=${!r.hasCamera} onClick=${f}>${s("consult.camera_mute")}</button>
    </div>
  </section>`}function Ce(t){return typeof t=="number"?Math.round(t):"–"}function Xe({leg:t,participantId:e}){let[,n]=d(0);T(()=>{if(!t)return;let f=m=>m?.participant_id===e&&n(p=>p+1),h=[t.on("mode",f),t.on("quality",f)];return()=>h.forEach(m=>m())},[t,e]);let i=t?.modes.get(e),o=t?.quality.get(e);if(!i&&!o)return null;let r=o?.mode||i?.mode,c=i&&i.mode===r?oe(i):"",l=o?.measured||{},u=Math.round(100*Math.max(l.loss_up||0,l.loss_down||0));return a`<span class="media">
    <span class="mode"> · ${s(`consult.mode_${ie(r)}`)}${c?` (${s(`consult.cause_${c}`)})`:""}</span>
    ${o&&a`<span class="quality"> · ${s("consult.quality",{up:Ce(l.in_kbps),down:Ce(l.out_kbps),loss:u,rtt:Ce(l.rtt_ms)})}</span>`}
  </span>`}var Nt=["auto","audio-only","text-only"];function Ze({leg:t,participantId:e,label:n}){let[i,o]=d(()=>t?.choices.get(e)||"auto"),[r,c]=d(!1),[l,u]=d("");if(T(()=>{if(t)return o(t.choices.get(e)||"auto"),t.on("choice",m=>m.participant_id===e&&o(m.mode))},[t,e]),!t)return null;async function f(m){let p=m.currentTarget,$=p.value;c(!0),u("");try{await t.chooseMode(e,$),o($)}catch(y){p.value=i,u(E(y.code))}finally{c(!1)}}let h=`mode-${e}`;return a`<span class="mode-switch">
    <label for=${h}>${n}</label>
    <select id=${h} value=${i} disabled=${r} onChange=${f}>
      ${Nt.map(m=>a`<option value=${m}>${s(`consult.choice_${m.replace("-","_")}`)}</option>`)}
    </select>
    ${l&&a`<span class="error" role="alert">${l}</span>`}
  </span>`}var et=t=>["offline","not_connected"].includes(t?.code);function jt({p:t,leg:e,me:n}){let i=t.user_id===n,o=t.state==="admitted"?t.present?s("consult.present"):s("consult.absent"):s(`consult.state_${t.state}`);return a`<li>
    <span class="who">${t.display_name||s("people.unknown")}</span>
    <span class="role"> · ${s(`consult.role_${t.role}`)}</span>
    <span class="state"> · ${o}</span>
    ${t.state==="admitted"&&a`<${Xe} leg=${e} participantId=${t.participant_id} />`}
    ${t.state==="admitted"&&e&&(t.present||i)&&a`<${Ze}
      leg=${e}
      participantId=${t.participant_id}
      label=${i?s("consult.mode_choice_mine"):s("consult.mode_choice_label",{name:t.display_name||s("people.unknown")})}
    />`}
  </li>`}function tt({app:t,roomId:e,consultationId:n}){let[i,o]=d(null),[r,c]=d([]),[l,u]=d([]),[f,h]=d(""),[m,p]=d(!1),[$,y]=d(!1),[w,b]=d(""),C=k(null),v=k(null),_=k(null),R=k(null),A=k(null),[q,D]=d(null),[g,B]=d(null),[F,Y]=d([]),[N,P]=d("");function J(x){let I=R.current,V=I?x.filter(L=>!I.has(L.participant_id)):[];R.current=new Set(x.map(L=>L.participant_id)),V.length&&h(s("consult.arrived",{name:V.map(L=>L.display_name||s("people.unknown")).join(", ")})),c(x)}M(()=>C.current?.focus(),[n]),M(()=>{m&&v.current?.focus()},[m]),M(()=>{q&&({waiting:A,end:_,heading:C}[q]?.current?.focus(),D(null))},[q]),T(()=>{let x=new Ae(t.e2ee,n),I=!1,V=null;B(null),Y([]);let L=x.on("unapproved",ne=>Y(ne)),K=async()=>{if(!(I||!t.connected))try{await x.open(),I||B(x)}catch(ne){!I&&ne?.code!=="consultation_ended"&&(V=setTimeout(K,3e3))}},ut=t.on("connection",ne=>ne&&(x.chatRoomId?x.wantSync():K()));return V=setTimeout(K,0),()=>{I=!0,clearTimeout(V),L(),ut(),x.close()}},[n]),T(()=>{let x=!1;R.current=null,o(null),P(""),c([]),u([]),h(""),p(!1),b("");let I=async()=>{try{let L=await t.consultation(n);if(x)return;L.status==="open"&&await t.joinConsultation(n);let K=L.status==="open"?await t.consultation(n):L;if(x)return;o(K.status),u(K.participants||[]),J(K.waiting||[]),b("")}catch(L){if(x)return;L.code==="consultation_ended"?o("ended"):et(L)||b(E(L.code))}};t.connected&&I();let V=[t.on("connection",L=>L&&I()),t.on("consult",(L,K)=>{K?.consultation_id===n&&(L==="consult.waiting"?J(K.waiting||[]):L==="consult.participants"?u(K.participants||[]):L==="consult.ended"&&(o("ended"),c([])))})];return()=>{x=!0,V.forEach(L=>L())}},[n]);async function O(x,I){y(!0),b("");try{await x(),D(I)}catch(V){b(E(V.code))}finally{y(!1)}}let G=x=>O(()=>g?g.admit(x.participant_id):t.admit(n,x.participant_id),"waiting"),X=x=>g?.names.get(x)||t.nameOf(x),z=x=>O(()=>t.deny(n,x.participant_id),"waiting"),S=()=>O(async()=>{if(await t.endConsultation(n),p(!1),o("ended"),c([]),e)try{await t.postConsultationSummary(n,e),P(s("consult.summary_posted"))}catch{P(s("consult.summary_failed"))}},"heading"),U=i==="ended",ee=l.some(x=>x.role!=="host"&&x.state==="admitted"),[Z,be]=d(!1);T(()=>{i==="open"&&ee?be(!0):i!=="open"&&be(!1)},[i,ee]),T(()=>be(!1),[n]);let ge=he(t,n,Z),dt=l.find(x=>x.role==="patient")||l.find(x=>x.role!=="host");return a`<section class="consultation" aria-labelledby="consultation-title">
    <h1 id="consultation-title" tabindex="-1" ref=${C}>${s("consult.screen_title")}</h1>
    <p><a href=${nt(e)}>${e?s("consult.all_open"):s("consult.assisted_queue")}</a>${e&&a` · <a href=${`#/rooms/${encodeURIComponent(e)}`}>${s("consult.back_room")}</a>`}</p>
    <p class="status" role="status">${U?N||s("consult.ended"):f}</p>
    ${w&&a`<p class="error" role="alert">${w}</p>`}
    ${i===null&&!w&&a`<p>${s("app.loading")}</p>`}
    ${i==="open"&&a`
      <section aria-labelledby="waiting-title">
        <h2 id="waiting-title" tabindex="-1" ref=${A}>${s("consult.waiting_title")}</h2>
        ${r.length===0?a`<p>${s("consult.waiting_empty")}</p>`:a`<ul class="waiting">
              ${r.map(x=>a`<li key=${x.participant_id}>
                  <span class="who">${x.display_name||s("people.unknown")}</span>
                  <span class="role"> · ${s(`consult.role_${x.role}`)}</span>
                  <span class="row">
                    <button type="button" class="primary" disabled=${$} aria-label=${s("consult.admit_who",{name:x.display_name})} onClick=${()=>G(x)}>${s("consult.admit")}</button>
                    <button type="button" disabled=${$} aria-label=${s("consult.deny_who",{name:x.display_name})} onClick=${()=>z(x)}>${s("consult.deny")}</button>
                  </span>
                </li>`)}
            </ul>`}
      </section>
      ${ge&&a`<${$e} leg=${ge} patientName=${dt?.display_name} names=${new Map(l.map(x=>[x.participant_id,x.display_name]))} />`}
      ${F.length>0&&a`<section aria-labelledby="unapproved-title">
        <h2 id="unapproved-title">${s("text.unapproved_title")}</h2>
        <p>${s("text.unapproved_intro")}</p>
        <ul>
          ${F.map(x=>a`<li key=${x}><button type="button" onClick=${()=>g?.approve(x)}>${s("text.approve",{name:X(x)})}</button></li>`)}
        </ul>
      </section>`}
      <${Oe} text=${g} nameOf=${X} />
      <section aria-labelledby="participants-title">
        <h2 id="participants-title">${s("consult.participants_title")}</h2>
        <ul class="participants">
          ${l.map(x=>a`<${jt} key=${x.participant_id} p=${x} leg=${ge} me=${t.userId} />`)}
        </ul>
      </section>
      ${m?a`<div class="confirm" role="group" aria-labelledby="end-question">
            <p id="end-question">${s("consult.end_confirm")}</p>
            <div class="row">
              <button type="button" class="danger" ref=${v} disabled=${$} onClick=${S}>${s("consult.end_yes")}</button>
              <button type="button" onClick=${()=>(p(!1),D("end"))}>${s("common.cancel")}</button>
            </div>
          </div>`:a`<button type="button" class="danger" ref=${_} onClick=${()=>p(!0)}>${s("consult.end")}</button>`}
    `}
  </section>`}function nt(t){return t?`#/rooms/${encodeURIComponent(t)}/consultations`:"#/consultations"}function st({app:t,roomId:e}){let[n,i]=d(null),[o,r]=d(""),c=k(null);return M(()=>c.current?.focus(),[e]),T(()=>{let l=()=>t.openConsultations(e).then(u=>(i(u),r(""))).catch(u=>!et(u)&&r(E(u.code)));return t.connected&&l(),t.on("connection",u=>u&&l())},[e]),a`<section aria-labelledby="consultations-title">
    <h1 id="consultations-title" tabindex="-1" ref=${c}>${e?s("consult.list_title"):s("consult.assisted_queue")}</h1>
    ${e&&a`<p><a href=${`#/rooms/${encodeURIComponent(e)}`}>${s("consult.back_room")}</a></p>`}
    ${o&&a`<p class="error" role="alert">${o}</p>`}
    ${n===null?!o&&a`<p>${s("app.loading")}</p>`:n.length===0?a`<p>${s("consult.list_empty")}</p>`:a`<ul class="consultations">
            ${n.map(l=>a`<li key=${l.consultation_id}>
                <a href=${`${nt(e)}/${encodeURIComponent(l.consultation_id)}`}>
                  ${s("consult.opened_at",{when:j(l.created_at)})}${l.assisted_by?` · ${s("consult.assisted_by",{name:l.assisted_by.display_name})}`:""}${l.waiting?` · ${s("consult.waiting_count",{count:l.waiting})}`:""}
                </a>
              </li>`)}
          </ul>`}
  </section>`}function it(){let t=location.hash.replace(/^#\/?/,"").split("/");if(t[0]==="rooms"&&t[1]&&t[2]==="consultations"){let e=decodeURIComponent(t[1]);return t[3]?{view:"consultation",id:e,consultation:decodeURIComponent(t[3])}:{view:"consultations",id:e}}return t[0]==="consultations"?t[1]?{view:"consultation",id:null,consultation:decodeURIComponent(t[1])}:{view:"consultations",id:null}:t[0]==="rooms"&&t[1]?{view:"room",id:decodeURIComponent(t[1])}:t[0]==="devices"?{view:"devices"}:t[0]==="verify"&&t[1]?{view:"verify",id:decodeURIComponent(t[1])}:{view:"home"}}function Pt({app:t,onDone:e}){let[n,i]=d(""),[o,r]=d(!1),[c,l]=d(""),u=k(null);M(()=>u.current?.focus(),[]);async function f(h){h.preventDefault(),r(!0),l("");try{let m=await t.createRoom(n.trim());e(m)}catch(m){l(E(m.code)),r(!1)}}return a`<form class="new-room" onSubmit=${f}>
    ${c&&a`<p class="error" role="alert">${c}</p>`}
    <label for="new-room-title">${s("rooms.new_title")}</label>
    <p class="hint" id="new-room-hint">${s("rooms.new_hint")}</p>
    <input id="new-room-title" ref=${u} maxlength="200" required aria-describedby="new-room-hint" value=${n} onInput=${h=>i(h.currentTarget.value)} />
    <div class="row">
      <button type="submit" class="primary" disabled=${o||!n.trim()}>${s("rooms.create")}</button>
      <button type="button" onClick=${()=>e(null)}>${s("common.cancel")}</button>
    </div>
  </form>`}function ot({app:t,onSignOut:e,onForget:n,onLanguage:i}){let[o,r]=d(null),[c,l]=d(t.connected),[u,f]=d(it()),[h,m]=d(!1),[p,$]=d("");T(()=>{let b=()=>f(it());return addEventListener("hashchange",b),()=>removeEventListener("hashchange",b)},[]),T(()=>{let b=null,C=()=>{b||(b=setTimeout(async()=>{b=null;try{let _=await t.listRooms();_.sort((R,A)=>A.last_activity_at-R.last_activity_at),r(_),$("")}catch(_){_.code!=="offline"&&_.code!=="not_connected"&&$(E(_.code))}},150))},v=[t.on("rooms",C),t.on("connection",l)];return C(),()=>{v.forEach(_=>_()),clearTimeout(b)}},[t]),t.verification=b=>location.hash=`#/verify/${encodeURIComponent(b)}`;let y=t.session.record,w;return u.view==="room"?w=a`<${Qe} app=${t} roomId=${u.id} />`:u.view==="consultation"?w=a`<${tt} app=${t} roomId=${u.id} consultationId=${u.consultation} />`:u.view==="consultations"?w=a`<${st} app=${t} roomId=${u.id} />`:u.view==="devices"?w=a`<${Ye} app=${t} />`:u.view==="verify"?w=a`<${Je} app=${t} userId=${u.id} onClose=${()=>history.back()} />`:w=a`<h1 tabindex="-1">${s("workspace.welcome")}</h1><p>${s("workspace.pick_room")}</p>`,a`
    <a class="skip" href="#main" onClick=${b=>(b.preventDefault(),document.getElementById("main")?.focus())}>${s("app.skip")}</a>
    <header class="bar">
      <span class="brand">${s("app.name")}</span>
      <span class="status" role="status">${c?"":s("workspace.offline")}</span>
      <span class="who">${s("workspace.signed_in_as",{name:y.display_name||y.username})}</span>
      <label class="lang">
        <span>${s("lang.label")}</span>
        <select value=${ce()} onChange=${b=>i(b.currentTarget.value)}>
          ${re.map(b=>a`<option value=${b}>${s(`lang.${b}`)}</option>`)}
        </select>
      </label>
      <a class="button-like" href="#/devices">${s("workspace.devices")}</a>
      <button type="button" onClick=${e}>${s("workspace.sign_out")}</button>
      <button type="button" class="danger" onClick=${n}>${s("workspace.forget")}</button>
    </header>
    <div class="workspace">
      <nav aria-labelledby="rooms-title" class="rooms">
        <h2 id="rooms-title">${s("rooms.title")}</h2>
        ${t.canConsult&&a`<p><a href="#/consultations" aria-current=${u.view==="consultations"&&u.id===null?"page":void 0}>${s("consult.assisted_queue")}</a></p>`}
        ${t.canConsult&&(h?a`<${Pt} app=${t} onDone=${b=>(m(!1),b&&(location.hash=`#/rooms/${b}`))} />`:a`<button type="button" onClick=${()=>m(!0)}>${s("workspace.new_room")}</button>`)}
        ${p&&a`<p class="error" role="alert">${p}</p>`}
        ${o===null?a`<p>${s("app.loading")}</p>`:o.length===0?a`<p>${s("rooms.empty")}</p>`:a`<ul>
                ${o.map(b=>a`<li key=${b.room_id}>
                    <a href=${`#/rooms/${b.room_id}`} aria-current=${u.view==="room"&&u.id===b.room_id?"page":void 0}>
                      <span class="room-name">${b.title||s("rooms.untitled",{id:b.room_id.slice(2,8)})}</span>
                      ${b.unread>0&&a`<span class="badge"><span aria-hidden="true">${b.unread}</span><span class="visually-hidden">${s("rooms.unread",{count:b.unread})}</span></span>`}
                      <span class="when">${s("rooms.last_activity",{when:j(b.last_activity_at)})}</span>
                    </a>
                  </li>`)}
              </ul>`}
      </nav>
      <main id="main" tabindex="-1">${w}</main>
    </div>
  `}var Bt="assisted-v1",zt=["id_card","passport","residence_permit","health_card","known_to_staff","other"],It=["verbal","written","on_device"],Ft=()=>new Date().toISOString().slice(0,10);function at(t){let e=/^\s*(\d{1,2})[/.\- ](\d{1,2})[/.\- ](\d{4})\s*$/.exec(t);if(!e)return null;let[n,i,o]=[Number(e[1]),Number(e[2]),Number(e[3])],r=new Date(Date.UTC(o,i-1,n));if(r.getUTCFullYear()!==o||r.getUTCMonth()!==i-1||r.getUTCDate()!==n)return null;let c=r.toISOString().slice(0,10);return c>Ft()||o<1880?null:c}function Kt({list:t,onLeave:e}){let[n,i]=d(!1),[o,r]=d("");async function c(l){i(!0),r("");try{await e(l)}catch(u){r(E(u.code))}finally{i(!1)}}return a`<section class="panel leftovers" aria-labelledby="assist-leftover-title">
    <h2 id="assist-leftover-title">${s("assist.leftover_title")}</h2>
    <p>${s("assist.leftover_intro")}</p>
    ${o&&a`<p class="error" role="alert">${o}</p>`}
    <ul>
      ${t.map(l=>{let u=j(l.created_at);return a`<li key=${l.consultation_id}>
          <button type="button" disabled=${n} onClick=${()=>c(l)}>${s("assist.leftover_leave",{when:u})}</button>
        </li>`})}
    </ul>
  </section>`}function rt({app:t,leftovers:e=[],onLeaveLeftover:n,onOpened:i}){let[o,r]=d(""),[c,l]=d(""),[u,f]=d(""),[h,m]=d(""),[p,$]=d(""),[y,w]=d(!1),[b,C]=d(""),[v,_]=d(null),[R,A]=d(null),[q,D]=d(!1),[g,B]=d(!1),[F,Y]=d(""),[N,P]=d(""),J=k(null),O={name:k(null),birth:k(null),method:k(null),consentMethod:k(null),agreed:k(null),query:k(null)};M(()=>{J.current?.focus()},[]);async function G(){let S=b.trim();if(S.length<2){P(s("assist.search_short")),O.query.current?.focus();return}D(!0),P("");try{let U=await t.findClinicians(S);_(U),A(U.length===1?U[0]:null),P(U.length?s("assist.search_found",{count:U.length}):s("assist.search_none"))}catch(U){_(null),P(E(U.code))}finally{D(!1)}}async function X(S){S.preventDefault();let U=[];if(o.trim()||U.push(["name","assist.full_name"]),at(c)||U.push(["birth","assist.birth_date"]),u||U.push(["method","assist.method"]),p||U.push(["consentMethod","assist.consent_method"]),y||U.push(["agreed","assist.consent_agree"]),R||U.push(["query","assist.clinician"]),U.length){Y(s("assist.missing",{fields:U.map(([,Z])=>s(Z)).join(" ; ")})),O[U[0][0]].current?.focus();return}B(!0),Y("");let ee={full_name:o.trim(),birth_date:at(c),method:u};h.trim()&&(ee.detail=h.trim());try{let Z=await t.openAssisted({host_user_id:R.user_id,patient:ee,consent:{text_version:Bt,method:p}});i({...Z,patient:{full_name:ee.full_name},clinician:{display_name:R.display_name||R.username}})}catch(Z){Y(E(Z.code)),B(!1)}}let z={autocomplete:"off",autocapitalize:"off",spellcheck:!1};return a`<form class="assist-start" onSubmit=${X} aria-labelledby="assist-start-title" autocomplete="off" novalidate>
    <h1 id="assist-start-title" tabindex="-1" ref=${J}>${s("assist.start_title")}</h1>
    <p>${s("assist.start_intro")}</p>
    ${e.length>0&&a`<${Kt} list=${e} onLeave=${n} />`}
    ${F&&a`<p class="error" role="alert">${F}</p>`}

    <fieldset>
      <legend>${s("assist.identity")}</legend>
      <label for="assist-name">${s("assist.full_name")}</label>
      <input id="assist-name" ref=${O.name} ...${z} maxlength="200" required value=${o} onInput=${S=>r(S.currentTarget.value)} />
      <label for="assist-birth">${s("assist.birth_date")}</label>
      <p class="hint" id="assist-birth-hint">${s("assist.birth_date_hint")}</p>
      <input id="assist-birth" ref=${O.birth} inputmode="numeric" ...${z} maxlength="10" required aria-describedby="assist-birth-hint" value=${c} onInput=${S=>l(S.currentTarget.value)} />
      <label for="assist-method">${s("assist.method")}</label>
      <select id="assist-method" ref=${O.method} ...${z} required value=${u} onChange=${S=>f(S.currentTarget.value)}>
        <option value="">${s("assist.choose")}</option>
        ${zt.map(S=>a`<option value=${S}>${s(`assist.method_${S}`)}</option>`)}
      </select>
      <label for="assist-detail">${s("assist.detail")}</label>
      <p class="hint" id="assist-detail-hint">${s("assist.detail_hint")}</p>
      <input id="assist-detail" ...${z} maxlength="200" aria-describedby="assist-detail-hint" value=${h} onInput=${S=>m(S.currentTarget.value)} />
    </fieldset>

    <fieldset>
      <legend>${s("assist.consent")}</legend>
      <p id="assist-consent-text" class="consent-text">${s("assist.consent_text")}</p>
      <p class="hint">${s("assist.consent_read")}</p>
      <label for="assist-consent-method">${s("assist.consent_method")}</label>
      <select id="assist-consent-method" ref=${O.consentMethod} required value=${p} onChange=${S=>$(S.currentTarget.value)}>
        <option value="">${s("assist.choose")}</option>
        ${It.map(S=>a`<option value=${S}>${s(`assist.consent_${S}`)}</option>`)}
      </select>
      <div class="check">
        <input id="assist-agree" ref=${O.agreed} type="checkbox" aria-describedby="assist-consent-text" checked=${y} onChange=${S=>w(S.currentTarget.checked)} />
        <label for="assist-agree">${s("assist.consent_agree")}</label>
      </div>
    </fieldset>

    <fieldset>
      <legend>${s("assist.clinician")}</legend>
      <label for="assist-query">${s("assist.search")}</label>
      <p class="hint" id="assist-query-hint">${s("assist.search_hint")}</p>
      <div class="row">
        <input id="assist-query" ref=${O.query} type="search" ...${z} maxlength="120" aria-describedby="assist-query-hint" value=${b}
          onInput=${S=>C(S.currentTarget.value)}
          onKeyDown=${S=>S.key==="Enter"&&(S.preventDefault(),G())} />
        <button type="button" disabled=${q} onClick=${G}>${s("assist.search_button")}</button>
      </div>
      <p role="status" class="hint">${N}</p>
      ${v&&v.length>0&&a`<div role="radiogroup" aria-label=${s("assist.clinician_pick")} class="choices">
        ${v.map(S=>a`<div class="check" key=${S.user_id}>
            <input type="radio" id=${`assist-c-${S.user_id}`} name="assist-clinician" checked=${R?.user_id===S.user_id} onChange=${()=>A(S)} />
            <label for=${`assist-c-${S.user_id}`}>${S.display_name||S.username}${S.display_name&&S.display_name!==S.username?` (${S.username})`:""}</label>
          </div>`)}
      </div>`}
    </fieldset>

    <div class="row">
      <button type="submit" class="primary" disabled=${g}>${s("assist.open")}</button>
    </div>
  </form>`}var Gt=t=>["offline","not_connected"].includes(t?.code);function ct({app:t,session:e,assistant:n,onAnnounce:i,onFinished:o}){let[r,c]=d("joining"),[l,u]=d(!1),[f,h]=d(!1),[m,p]=d(""),$=k(null),y=k(null),w=k(null),b=k(r),C=e.consultation_id,v=new Set([e.assistant_participant_id,e.patient_participant_id]),_=e.clinician.display_name,R=e.patient.full_name,[A,q]=d(()=>new Map),D=he(t,C,r==="admitted");function g(N){if(b.current===N||b.current==="ended")return;b.current=N,c(N);let P={waiting:"assist.now_waiting",admitted:"assist.now_admitted",denied:"assist.now_denied",ended:"assist.now_ended"}[N];P&&i(s(P,{clinician:_,patient:R}))}M(()=>$.current?.focus(),[]),M(()=>{l&&w.current?.focus()},[l]),T(()=>{let N=!1,P=async()=>{try{let O=await t.joinConsultation(C);N||g(O.state==="admitted"?"admitted":"waiting")}catch(O){if(N)return;O.code==="consultation_ended"?g("ended"):O.code==="not_admitted"?g("denied"):Gt(O)||p(E(O.code))}};t.connected&&P();let J=[t.on("connection",O=>O&&b.current!=="ended"&&b.current!=="denied"&&P()),t.on("consult",(O,G)=>{if(!(N||G?.consultation_id!==C))if(O==="consult.state"&&v.has(G.participant_id))g(G.state==="admitted"?"admitted":G.state==="denied"?"denied":b.current);else if(O==="consult.participants"){let X=G.participants||[];q(new Map(X.map(z=>[z.participant_id,z.display_name]))),X.some(z=>z.participant_id===e.assistant_participant_id)&&g("admitted")}else O==="consult.ended"&&g("ended")})];return()=>{N=!0,J.forEach(O=>O())}},[C]);async function B(){h(!0),p("");try{await t.forgetRoom(e.chat_room_id),(b.current==="waiting"||b.current==="admitted"||b.current==="joining")&&await t.leaveConsultation(C).catch(N=>{if(!["consultation_ended","not_found","not_admitted"].includes(N?.code))throw N}),await t.leaveRoomIfMember(e.chat_room_id)}catch(N){h(!1),p(E(N.code));return}o()}let F={joining:s("assist.state_joining"),waiting:s("assist.state_waiting",{clinician:_}),admitted:s("assist.state_admitted",{clinician:_}),denied:s("assist.state_denied",{clinician:_}),ended:s("assist.state_ended",{clinician:_})},Y=r==="denied"||r==="ended";return a`<section class="assist-session" aria-labelledby="assist-session-title">
    <h1 id="assist-session-title" tabindex="-1" ref=${$}>${s("assist.session_title")}</h1>
    <p class="acting-detail">${s("assist.acting",{patient:R,assistant:n})}</p>
    <p class=${`assist-phase ${r}`} data-phase=${r}>${F[r]}</p>
    ${m&&a`<p class="error" role="alert">${m}</p>`}
    <section id="assisted-call" class="assist-call" aria-label=${s("assist.call_region")} data-consultation=${C}>
      ${D?a`<${$e} leg=${D} patientName=${_} names=${A} />`:a`<p class="hint">${s("assist.call_later")}</p>`}
    </section>
    ${l?a`<div class="confirm" role="group" aria-labelledby="assist-end-question">
          <p id="assist-end-question">${Y?s("assist.clear_confirm",{patient:R}):s("assist.end_confirm",{patient:R})}</p>
          <div class="row">
            <button type="button" class="danger" ref=${w} disabled=${f} onClick=${B}>${s("assist.end_yes")}</button>
            <button type="button" onClick=${()=>(u(!1),requestAnimationFrame(()=>y.current?.focus()))}>${s("common.cancel")}</button>
          </div>
        </div>`:a`<button type="button" class="danger" ref=${y} onClick=${()=>u(!0)}>${s("assist.end")}</button>`}
  </section>`}function lt({app:t,onSignOut:e,onForget:n,onLanguage:i}){let[o,r]=d(null),[c,l]=d(0),[u,f]=d(""),[h,m]=d(t.connected),p=k(!1),$=t.session.record,y=$.display_name||$.username;T(()=>t.on("connection",m),[t]);let[w,b]=d([]),C=()=>t.openAssistedSessions().then(b).catch(()=>{});T(()=>{if(!o)return t.connected&&C(),t.on("connection",q=>q&&C())},[t,o]);async function v(q){await t.leaveLeftover(q.consultation_id),f(s("assist.leftover_left")),await C()}M(()=>{document.title=`${s(o?"assist.session_title":"assist.start_title")} · ${s("app.name")}`},[o,c]);function _(q){f(s("assist.opened",{clinician:q.clinician.display_name})),r(q)}async function R(){if(p.current)return;p.current=!0;let q=o?.chat_room_id;r(null),l(D=>D+1),f(s("assist.cleared"));try{await t.forgetRoom(q)}finally{p.current=!1}}let A=o?.patient.full_name;return a`
    <a class="skip" href="#main" onClick=${q=>(q.preventDefault(),document.getElementById("main")?.focus())}>${s("app.skip")}</a>
    <header class="bar">
      <span class="brand">${s("app.name")}</span>
      <span class="status" role="status">${h?"":s("assist.offline")}</span>
      <span class="who">${s("workspace.signed_in_as",{name:y})}</span>
      <label class="lang">
        <span>${s("lang.label")}</span>
        <select value=${ce()} onChange=${q=>i(q.currentTarget.value)}>
          ${re.map(q=>a`<option value=${q}>${s(`lang.${q}`)}</option>`)}
        </select>
      </label>
      ${!o&&a`<button type="button" onClick=${e}>${s("workspace.sign_out")}</button>
        <button type="button" class="danger" onClick=${n}>${s("workspace.forget")}</button>`}
    </header>
    <p class="acting" data-testid="acting">
      ${A?s("assist.acting",{patient:A,assistant:y}):s("assist.acting_none",{assistant:y})}
    </p>
    <p class="assist-status" role="status">${u}</p>
    <main id="main" tabindex="-1" class="assist">
      ${o?a`<${ct} key=${o.consultation_id} app=${t} session=${o} assistant=${y} onAnnounce=${f} onFinished=${R} />`:a`<${rt} key=${`start-${c}`} app=${t} leftovers=${w} onLeaveLeftover=${v} onOpened=${_} />`}
    </main>
  `}function Vt({vault:t}){let[e,n]=d({phase:"loading",app:null,error:""}),[,i]=d(ye());async function o(m){let p=null;try{m.vault.locked&&(n({phase:"waiting",app:null}),await Ht(m)),p=await pe.open(m),p.on("ended",()=>r(p));let $=await p.deviceStatus();$==="ready"?(n({phase:"ready",app:p}),await p.connect()):n({phase:$,app:p})}catch($){if($?.code==="unauthorized"&&p)return r(p);n({phase:"signin",app:null,error:E($.code)})}}async function r(m){m._ended||(m._ended=!0,await m.close().catch(()=>{}),await m.session.endedElsewhere(),location.hash="",n({phase:"signin",app:null,error:s("signin.ended")}))}T(()=>{ae.resume(t).then(m=>m?o(m):n({phase:"signin"}))},[]),M(()=>{let m={signin:"signin.title",first_device:"setup.first_title",new_device:"setup.new_title"};document.title=m[e.phase]?`${s(m[e.phase])} · ${s("app.name")}`:s("app.name");let p=document.activeElement;(!p||p===document.body)&&document.getElementById("main")?.focus()},[e.phase]);async function c(m){await o(await ae.login(t,m))}async function l(){let m=e.app;n({phase:"ready",app:m}),await m.connect().catch(p=>p?.code==="unauthorized"&&r(m))}async function u(m){let p=e.app;if(p&&(p._ended=!0),m){let $=p.session.deviceId;await p.session.forgetDevice(e.phase==="ready"?()=>p.revokeDevice($):null),p.close().catch(()=>{}),location.replace(location.pathname);return}await p?.close(),await p.session.signOut(),location.hash="",n({phase:"signin",app:null})}function f(m){ve(m,!0),i(m)}if(e.phase==="waiting")return a`<main id="main" tabindex="-1"><p role="status">${s("app.waiting_server")}</p></main>`;if(e.phase==="loading")return a`<main id="main"><p role="status">${s("app.loading")}</p></main>`;if(e.phase==="signin")return a`<${Be} onSignIn=${c} initialError=${e.error} />`;if(e.phase==="first_device"||e.phase==="new_device")return a`<${Fe} app=${e.app} status=${e.phase} onReady=${l} />`;let h=e.app.session.record.role==="assistant"?lt:ot;return a`<${h} app=${e.app} onSignOut=${()=>u(!1)} onForget=${()=>u(!0)} onLanguage=${f} />`}async function Ht(t){for(let e=1e3;;e=Math.min(e*2,15e3)){try{await t.unlock();return}catch(n){if(n.code==="unauthorized")throw n}await new Promise(n=>{let i=()=>(clearTimeout(o),removeEventListener("online",i),n()),o=setTimeout(i,e);addEventListener("online",i)})}}ve(ye());ue.open().then(t=>Se(a`<${Vt} vault=${t} />`,document.getElementById("root")));
