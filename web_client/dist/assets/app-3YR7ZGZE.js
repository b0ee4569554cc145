import{a as ae,c as re,e as Ue,f as Ne,g as je}from"./chunk-GGMGEVRR.js";import{a as Oe,b as Le,c as Pe,d as ze}from"./chunk-URWQI7I3.js";import{a as Ae,b as l,c as T,d as A,e as w,f as De,g as a,h as de,i as _e,j as ke,k as ue,l as s,m as S,n as j,o as oe,p as xe,q as Ce,r as me}from"./chunk-ZJUT6LVE.js";import"./chunk-55A7VLQV.js";import"./chunk-WOT6VMZA.js";var Se="relais";var Q="meta",Y="records",Be="wrap-key",Ie="user-key-salt",bt=new Set(["session"]),yt=new TextEncoder().encode("relais/web/vault/user-key/v1"),pe=class extends Error{constructor(){super("the vault is locked"),this.code="vault_locked"}};function W(t){return new Promise((e,n)=>{t.onsuccess=()=>e(t.result),t.onerror=()=>n(t.error)})}function vt(){let t=indexedDB.open(Se,1);return t.onupgradeneeded=()=>{let e=t.result;e.objectStoreNames.contains(Q)||e.createObjectStore(Q),e.objectStoreNames.contains(Y)||e.createObjectStore(Y)},W(t)}function wt(t){return new TextEncoder().encode(JSON.stringify(t,(e,n)=>n instanceof Uint8Array?{$bytes:kt(n)}:n))}function _t(t){return JSON.parse(new TextDecoder().decode(t),(e,n)=>n&&typeof n=="object"&&typeof n.$bytes=="string"&&Object.keys(n).length===1?Fe(n.$bytes):n)}function kt(t){let e="";for(let n=0;n<t.length;n+=32768)e+=String.fromCharCode(...t.subarray(n,n+32768));return btoa(e)}function Fe(t){let e=atob(t),n=new Uint8Array(e.length);for(let i=0;i<e.length;i++)n[i]=e.charCodeAt(i);return n}async function xt(){return indexedDB.databases?(await indexedDB.databases()).some(t=>t.name===Se):!0}var fe=class t{constructor(e,n){this.db=e,this.key=n,this.userKey=null,this.wiped=!1}get locked(){return this.userKey===null}async unlock(e){await this.ensure();let n=await W(this.db.transaction(Q).objectStore(Q).get(Ie));n||(n=crypto.getRandomValues(new Uint8Array(32)),await W(this.db.transaction(Q,"readwrite").objectStore(Q).put(n,Ie)));let i=Fe(e.replace(/-/g,"+").replace(/_/g,"/"));if(i.length!==32)throw new Error("bad vault key");let o=await crypto.subtle.importKey("raw",i,"HKDF",!1,["deriveKey"]);this.userKey=await crypto.subtle.deriveKey({name:"HKDF",hash:"SHA-256",salt:n,info:yt},o,{name:"AES-GCM",length:256},!1,["encrypt","decrypt"])}lock(){this.userKey=null}_keyFor(e){if(bt.has(e))return this.key;if(!this.userKey)throw new pe;return this.userKey}static async open(){return await xt()?t.create():new t(null,null)}static async create(){let e=await vt(),n=await W(e.transaction(Q).objectStore(Q).get(Be));return n||(n=await crypto.subtle.generateKey({name:"AES-GCM",length:256},!1,["encrypt","decrypt"]),await W(e.transaction(Q,"readwrite").objectStore(Q).put(n,Be))),new t(e,n)}async ensure(){if(this.wiped)throw new pe;if(!this.db){let e=await t.create();this.db=e.db,this.key=e.key}}async put(e,n){await this.ensure();let i=crypto.getRandomValues(new Uint8Array(12)),o=new TextEncoder().encode(`relais/web/vault/${e}`),r=new Uint8Array(await crypto.subtle.encrypt({name:"AES-GCM",iv:i,additionalData:o},this._keyFor(e),wt(n)));await W(this.db.transaction(Y,"readwrite").objectStore(Y).put({iv:i,ct:r},e))}async get(e){if(!this.db)return;let n=this._keyFor(e),i=await W(this.db.transaction(Y).objectStore(Y).get(e));if(!i)return;let o=new TextEncoder().encode(`relais/web/vault/${e}`);try{let r=await crypto.subtle.decrypt({name:"AES-GCM",iv:i.iv,additionalData:o},n,i.ct);return _t(new Uint8Array(r))}catch{await this.delete(e);return}}async delete(e){this.db&&await W(this.db.transaction(Y,"readwrite").objectStore(Y).delete(e))}async names(){return this.db?W(this.db.transaction(Y).objectStore(Y).getAllKeys()):[]}async wipe(e=!0){this.wiped=e,this.db?.close(),this.db=null,this.key=null,this.userKey=null,await W(indexedDB.deleteDatabase(Se))}};var ne="session",ce=class t{constructor(e,n,i){this.vault=e,this.api=n,this.record=i}get userId(){return this.record.user_id}get deviceId(){return this.record.device_id}get token(){return this.record.token}static async resume(e,n=new Ce){let i=await e.get(ne);if(!i?.token)return null;n.token=i.token;try{let o=await n.get("/api/v1/me"),r=new t(e,n,{...i,...o});return await r.unlock(),r}catch(o){return o.code==="unauthorized"?(n.token=null,await e.put(ne,{device_id:i.device_id,user_id:i.user_id}),null):new t(e,n,i)}}static async login(e,{username:n,password:i,totp:o},r=new Ce){let c=await e.get(ne)||{},u={username:n,password:i,device_name:Ct()};o&&(u.totp=o),c.device_id&&(u.device_id=c.device_id);let f;try{f=await r.post("/api/v1/auth/login",u)}catch(d){if(d.code!=="not_found"||!u.device_id)throw d;delete u.device_id,f=await r.post("/api/v1/auth/login",u)}c.user_id&&(c.user_id!==f.user_id||c.device_id!==f.device_id)&&await e.wipe(!1),r.token=f.token;let m=await r.get("/api/v1/me"),h={...f,...m},p=new t(e,r,h);return await p.unlock(),await e.put(ne,h),p}async unlock(){let{key:e}=await this.api.post("/api/v1/auth/vault-key");await this.vault.unlock(e)}async signOut(){try{await this.api.post("/api/v1/auth/logout")}catch{}this.api.token=null,await this.vault.put(ne,{device_id:this.deviceId,user_id:this.userId}),this.vault.lock()}async endedElsewhere(){this.api.token=null,await this.vault.put(ne,{device_id:this.deviceId,user_id:this.userId}),this.vault.lock()}async forgetDevice(e=null){let n=!1;if(e)try{await e(),n=!0}catch{}if(!n)try{await this.api.delete(`/api/v1/devices/${encodeURIComponent(this.deviceId)}`)}catch{}try{await this.api.post("/api/v1/auth/logout")}catch{}this.api.token=null,await this.vault.wipe()}};function Ct(){let t=navigator.userAgent,e=/Firefox\//.test(t)?"Firefox":/Edg\//.test(t)?"Edge":/Chrom/.test(t)?"Chrome":/Safari\//.test(t)?"Safari":"Browser",n=/Windows/.test(t)?"Windows":/Android/.test(t)?"Android":/iPhone|iPad/.test(t)?"iOS":/Mac OS/.test(t)?"macOS":/Linux/.test(t)?"Linux":"";return`${e}${n?" · "+n:""}`.slice(0,200)}var Ee=30;function St(t){return Math.max(1,Math.round(t/6e4))}function Ke(t){let e=new Map((t.participants||[]).map(m=>[m.participant_id,m])),n=m=>e.get(m)?.display_name||s("people.unknown"),i=[s("summary.title")],o=t.created_at,r=t.ended_at||Date.now();i.push(s("summary.when",{start:j(o),end:j(r),minutes:St(r-o)}));let c=(t.participants||[]).filter(m=>m.admitted_at);i.push(s("summary.participants",{list:c.map(m=>`${n(m.participant_id)} (${s(`consult.role_${m.role}`)})`).join(", ")||s("summary.nobody")}));let u=new Map,f=[];for(let m of t.events||[]){if(m.kind!=="mode"||!m.detail?.mode)continue;let h=m.detail.previous||u.get(m.participant_id)||null;if(u.set(m.participant_id,m.detail.mode),!h||h===m.detail.mode)continue;let p=re({mode:m.detail.mode,previous:h,reason:m.detail.reason}),d=s(`consult.mode_${ae(m.detail.mode)}`);f.push(`${j(m.ts)} ${n(m.participant_id)} : ${d}${p?` (${s(`consult.cause_${p}`)})`:""}`)}if(!f.length)i.push(s("summary.no_mode_change"));else{i.push(s("summary.mode_changes",{count:f.length}));for(let m of f.slice(0,Ee))i.push(`- ${m}`);f.length>Ee&&i.push(s("summary.more",{count:f.length-Ee}))}return i.join(`
`)}var Ge="outbox",Et=new Set(["offline","not_connected","send_failed","unavailable","rate_limited","internal"]),he=class extends me{constructor(e,n){super(),this.vault=e,this.send=n,this.items=[],this.sending=null,this._draining=!1}async load(){this.items=await this.vault.get(Ge)||[]}async _save(){await this.vault.put(Ge,this.items)}async add(e,n){let i=`web-${crypto.randomUUID()}`;return this.items.push({id:i,room_id:e,content:n,ts:Date.now()}),await this._save(),this.emit("changed",e),this.drain(),i}forRoom(e){return this.items.filter(n=>n.room_id===e)}async drain(){if(this._draining)return;this._draining=!0;let e=null;try{for(;;){let n=this.items.find(i=>!i.failed);if(!n)break;e=n.room_id,this.sending=n.id,this.emit("changed",n.room_id);try{await this.send(n)}catch(i){if(Et.has(i?.code))break;n.failed=i?.code||"unknown"}n.failed||(this.items=this.items.filter(i=>i!==n)),await this._save(),this.emit("changed",n.room_id)}}finally{this.sending=null,this._draining=!1,e&&this.emit("changed",e)}}async discard(e){let n=this.items.find(i=>i.id===e);this.items=this.items.filter(i=>i.id!==e),await this._save(),n&&this.emit("changed",n.room_id)}};function Tt(t){return{load:e=>t.get(e),save:(e,n)=>t.put(e,n),delete:e=>t.delete(e)}}function Rt(t,e,n,i){return new Promise((o,r)=>{let c=new XMLHttpRequest;c.open("POST",`${t.baseUrl}/api/v1/rooms/${encodeURIComponent(e)}/attachments`),c.setRequestHeader("Authorization",`Bearer ${t.token}`),c.setRequestHeader("Content-Type","application/octet-stream"),c.responseType="json",c.upload.onprogress=u=>u.lengthComputable&&i(u.loaded/u.total),c.onload=()=>{let u=c.response||{};c.status>=200&&c.status<300?o(u):r(new oe(u.error?.code||"internal",u.error?.message||`HTTP ${c.status}`,u.error?.details||{},c.status))},c.onerror=()=>r(new oe(xe,"upload failed")),c.send(n)})}function qt(t){return`relais-approve:${btoa(JSON.stringify(t))}`}function Mt(t){let e=()=>new oe("bad_code","not an approval code"),n=/^relais-approve:([A-Za-z0-9+/=]+)$/.exec(String(t).trim());if(!n)throw e();let i;try{i=JSON.parse(atob(n[1]))}catch{throw e()}let o=["user","device","sign","dh"];if(!i||typeof i!="object"||Object.keys(i).length!==4||!o.every(r=>typeof i[r]=="string"))throw e();return i}var $e=class t extends me{constructor(e,n,i,o){super(),this.session=e,this.sdk=n,this.e2ee=i,this.outbox=o,this.names=new Map,this.rooms=[],this.canConsult=["clinician","admin"].includes(e.record.role),this.connected=!1}static async open(e){let n=new Oe(location.origin,{transports:["websocket","polling"],reconnectionDelay:1e3,reconnectionDelayMax:3e4});n.useSession(e.token,e.userId,e.deviceId);let i=await Le.open(n,{storage:Tt(e.vault)}),o,r=new he(e.vault,c=>o._sendQueued(c));return o=new t(e,n,i,r),await r.load(),o._wire(),o}get userId(){return this.sdk.userId}_wire(){let e=this.e2ee;e.on("message",n=>{let i=n.sender_user;i&&i!==this.userId&&!this.names.has(i)&&this.learnName(i,n.room_id),this.emit("timeline",n.room_id),this.emit("rooms")}),e.on("identity",n=>this.emit("identity",n)),e.on("room_changed",n=>{this.emit("room",n.room_id),this.emit("rooms")}),this.outbox.on("changed",n=>this.emit("timeline",n)),this.sdk.on("connect",()=>{this.connected=!0,this.emit("connection",!0),this.emit("rooms"),this.outbox.drain()}),this.sdk.on("disconnect",n=>{this.connected=!1,this.emit("connection",!1),n==="io server disconnect"&&this._checkSession()}),this.sdk.on("event",(n,i)=>{(n==="typing"||n==="receipt"||n==="presence")&&this.emit(n,i),(n==="receipt"||n==="room.member")&&this.emit("rooms"),n.startsWith("consult.")&&this.emit("consult",n,i)})}async _checkSession(){if(!this._closed){try{await this.sdk.request("GET","/api/v1/me")}catch(e){if(e?.code==="unauthorized"){this.emit("ended");return}}!this.sdk.connected&&!this._closed&&this.connect().catch(e=>e?.code==="unauthorized"&&this.emit("ended"))}}async deviceStatus(){return this.e2ee.hasIdentity?"ready":(await this.sdk.queryKeys([this.userId]))[this.userId]?.identity_key?"new_device":"first_device"}connect(){return this._connecting??=this._connectLoop().finally(()=>this._connecting=null),this._connecting}async _connectLoop(){let e=1e3;for(;!this._closed;)try{await this.e2ee.connect(),this.connected=!0,this.emit("connection",!0),this.emit("rooms"),this.outbox.drain();return}catch(n){if(n?.code==="unauthorized")throw n;this.emit("connection",!1),await new Promise(i=>setTimeout(i,e)),e=Math.min(e*2,3e4)}}async close(){this._closed=!0,await this.e2ee.close()}async bootstrap(e,n=()=>{}){await this.e2ee.bootstrap(e||null,{onProgress:n})}async startNewDevice(){return qt(await this.e2ee.startNewDevice())}whenApproved(e){let n=!1,i=()=>{!n&&this.e2ee.hasIdentity&&(n=!0,e())},o=this.e2ee.on("identity",i);return this.connect().catch(()=>{}),i(),()=>{n=!0,o()}}async restore(e,n=()=>{}){await this.e2ee.restoreFromBackup(e,{onProgress:n})}async approveDevice(e){await this.e2ee.approveDevice(Mt(e))}async devices(){let{sessions:e}=await this.sdk.request("GET","/api/v1/auth/sessions");await this.e2ee.directory.ensure([this.userId]).catch(()=>{});let n=new Set((this.e2ee.directory.lists.get(this.userId)?.devices||[]).map(o=>o.id)),i=new Map;for(let o of e){let r=i.get(o.device_id);(!r||o.created_at>r.created_at)&&i.set(o.device_id,o)}return[...i.values()].filter(o=>n.has(o.device_id)||e.some(r=>r.device_id===o.device_id&&r.active)).map(o=>({device_id:o.device_id,name:o.device_name,short_id:o.device_id.replace(/^d_/,"").slice(0,6),signed_in_at:o.created_at,last_seen_at:o.last_seen_at||o.created_at,current:o.device_id===this.session.deviceId})).sort((o,r)=>o.signed_in_at-r.signed_in_at)}async revokeDevice(e){await this.e2ee.revokeDevice(e)}async verificationFacts(e){return await this.e2ee.directory.ensure([e,this.userId]),this.e2ee.verificationFacts(e)}async markVerified(e){this.e2ee.markVerified(e),await this.e2ee.save()}trustOf(e){return this.e2ee.trustState(e)}whenConnected(){return this.connected?Promise.resolve():new Promise(e=>{let n=this.on("connection",i=>i&&(n(),e()))})}nameOf(e){return this.names.get(e)||s("people.unknown")}_learn(e){let n=!1;for(let i of e||[]){let o=i.display_name||i.username;o&&this.names.get(i.user_id)!==o&&(this.names.set(i.user_id,o),n=!0)}n&&this.emit("names")}learnName(e,n=null){if(this.names.has(e))return Promise.resolve(this.names.get(e));this._learning??=new Map,this._looked??=new Set;let i=n||"*";if(this._looked.has(`${i} ${e}`)&&!this._learning.has(i))return Promise.resolve(null);if(this._looked.add(`${i} ${e}`),!this._learning.has(i)){let o=async()=>n?[n]:(this.rooms.length?this.rooms:await this.listRooms()).map(c=>c.room_id),r=(async()=>{await this.whenConnected();for(let c of await o())if(await this.room(c),this.names.has(e))return})().catch(()=>{}).finally(()=>this._learning.delete(i));this._learning.set(i,r)}return this._learning.get(i).then(()=>this.names.get(e)||null)}async listRooms(){if(!this.sdk.connected)return this._localRooms();let{rooms:e}=await this.sdk.call("room.list");return this.rooms=e,e.map(n=>({...n,unread:Math.max(0,n.last_seq-n.read_seq),title:this.titleOf(n.room_id)}))}_localRooms(){let e=new Map;for(let n of this.e2ee.records.values()){let i=e.get(n.room_id);(!i||n.seq>i.seq)&&e.set(n.room_id,n)}return[...e.values()].map(n=>({room_id:n.room_id,last_seq:n.seq,read_seq:n.seq,last_activity_at:n.ts||0,unread:0,title:this.titleOf(n.room_id)}))}async room(e){let n=await this.sdk.call("room.get",{room_id:e});return this._learn(n.members),n}titleOf(e){let n=this.e2ee.messages(e).filter(o=>o.state==="decrypted"&&o.content?.type==="room.title"),i=n[n.length-1];return i?String(i.content.title||"").slice(0,200):null}roomTitle(e){return this.titleOf(e.room_id)||s("rooms.untitled",{id:e.room_id.slice(2,8)})}async createRoom(e){let n=await this.e2ee.createRoom(null);return e&&await this.e2ee.sendContent(n,{type:"room.title",title:e}),this.emit("rooms"),n}async receipts(e){return(await this.sdk.call("receipts.get",{room_id:e})).receipts}async markRead(e,n){try{await this.sdk.call("receipt.read",{room_id:e,seq:n}),this.emit("rooms")}catch{}}typing(e,n){this.sdk.call("typing",{room_id:e,typing:n}).catch(()=>{})}async presence(e){return(await this.sdk.call("presence.get",{user_ids:e.slice(0,200)})).presence}async searchPeople(e){let{people:n}=await this.sdk.request("GET",`/api/v1/people?q=${encodeURIComponent(e)}`);return this._learn(n),n}async addMember(e,n,{roomRole:i="member",consentMethod:o=null}={}){let r=null;o&&(r=(await this.sdk.request("POST",`/api/v1/rooms/${encodeURIComponent(e.room_id)}/consents`,{subject_user_id:n,method:o})).consent_id),await this.e2ee.addMember(e.room_id,n,{roomRole:i,consentId:r}),this.emit("room",e.room_id)}async removeMember(e,n){await this.e2ee.removeMember(e,n),this.emit("room",e)}timeline(e){let n=this.e2ee.messages(e),i=new Set;for(let r of n)r.sender_device===this.sdk.deviceId&&r.client_msg_id&&i.add(r.client_msg_id.replace(/\.\d+$/,""));let o=this.outbox.forRoom(e).filter(r=>!i.has(r.id)).map(r=>({id:r.id,pending:!0,sending:this.outbox.sending===r.id,failed:r.failed||null,sender_user:this.userId,ts:r.ts,content:r.content}));return[...n,...o]}async queueText(e,n){await this.outbox.add(e,{type:"text",body:n})}async _sendQueued(e){if(!this.sdk.connected)throw new oe(xe,"offline");await this.e2ee.sendContent(e.room_id,e.content,{clientMsgId:e.id})}async sendFile(e,n,i=()=>{}){let o=new Uint8Array(await n.arrayBuffer()),r=this.sdk,c=r.uploadAttachment;r.uploadAttachment=(u,f)=>Rt(r,u,f,i);try{return await this.e2ee.sendFile(e,o,{name:n.name,mime:n.type||"application/octet-stream"})}finally{r.uploadAttachment=c}}async downloadFile(e){return this.e2ee.downloadFile(e)}async startConsultation(e,n,i){let o=await this.sdk.request("POST","/api/v1/consultations",{room_id:e}),r=await this.sdk.request("POST",`/api/v1/consultations/${encodeURIComponent(o.consultation_id)}/links`,{display_name:n,with_code:i});return{...o,link:new URL(r.url,location.origin).href,code:r.code,expires_at:r.expires_at}}async openConsultations(e){let{consultations:n}=await this.sdk.request("GET","/api/v1/consultations");return n.filter(i=>i.role==="host"&&i.status==="open"&&(e?i.room_id===e:i.assisted&&!i.room_id))}async consultation(e){return this.sdk.request("GET",`/api/v1/consultations/${encodeURIComponent(e)}`)}async joinConsultation(e){return this.sdk.call("consult.join",{consultation_id:e})}async admit(e,n){return this.sdk.call("consult.admit",{consultation_id:e,participant_id:n})}async inviteColleague(e,n){return this.sdk.request("POST",`/api/v1/consultations/${encodeURIComponent(e)}/participants`,{user_id:n,role:"clinician"})}async invitations(){let{consultations:e}=await this.sdk.request("GET","/api/v1/consultations");return e.filter(n=>n.role!=="host"&&n.status==="open")}async deny(e,n){return this.sdk.call("consult.deny",{consultation_id:e,participant_id:n})}async endConsultation(e){return this.sdk.call("consult.end",{consultation_id:e})}async postConsultationSummary(e,n){let i=await this.sdk.request("GET",`/api/v1/consultations/${encodeURIComponent(e)}/record`);await this.queueText(n,Ke(i))}mediaSignal(){return{call:(e,n,i)=>this.sdk.call(e,n,i),subscribe:e=>this.on("consult",e)}}async findClinicians(e){let{people:n}=await this.sdk.request("GET",`/api/v1/people?q=${encodeURIComponent(e)}`);return n.filter(i=>i.role==="clinician")}async openAssisted(e){return this.sdk.request("POST","/api/v1/consultations/assisted",e)}async openAssistedSessions(){let{consultations:e}=await this.sdk.request("GET","/api/v1/consultations");return e.filter(n=>n.assisted&&n.role==="assistant"&&n.status==="open"&&["waiting","admitted"].includes(n.state))}async leaveLeftover(e){let n=(await this.consultation(e)).chat_room_id;await this.forgetRoom(n),await this.leaveConsultation(e),await this.leaveRoomIfMember(n),await this.forgetRoom(n)}async leaveRoomIfMember(e){if(!e)return;let{rooms:n}=await this.sdk.call("room.list");if(n.some(i=>i.room_id===e))try{await this.e2ee.removeMember(e,this.userId)}catch(i){if((await this.sdk.call("room.list")).rooms.some(r=>r.room_id===e))throw i}}async leaveConsultation(e){return this.sdk.call("consult.leave",{consultation_id:e})}async forgetRoom(e){if(e){if(!this.forgotten){this.forgotten=new Set;let n=this.sdk,i=n.onEvent,o=n.onMessage,r=c=>c&&this.forgotten.has(c.room_id);n.onEvent=(c,u)=>r(u)?void 0:i?.(c,u),n.onMessage=c=>r(c)?void 0:o?.(c),this.e2ee.on("message",c=>r(c)&&this._forget(c.room_id))}this.forgotten.add(e),await this._forget(e)}}async _forget(e){let n=this.e2ee.state,i=this.sdk.inbox,o=c=>c===e||typeof c=="string"&&c.startsWith("[")&&JSON.parse(c)[0]===e;for(let[c,u]of[...n.records])u.room_id===e&&(n.records.delete(c),i.seen.delete(c));for(let c of i.messages[e]||[])i.seen.delete(c.id);delete i.since[e],delete i.messages[e],delete i.ahead[e];let r=n.chains;for(let c of[n.outbound,n.inbound,n.waiting,n.requested,n.order,r.states,r.events,r.frozen,r._joinedAt,this.e2ee.sender.revocationsAt])for(let u of[...c.keys()])o(u)&&c.delete(u);for(let c of[n.inbound_forwarded,r.rejoined,r.dirty])for(let u of[...c])o(u)&&c.delete(u);r.warnings=r.warnings.filter(c=>c.room!==e&&c.room_id!==e),await this.e2ee.save()}};function He({onSignIn:t,initialError:e=""}){let[n,i]=l(""),[o,r]=l(""),[c,u]=l(""),[f,m]=l(!1),[h,p]=l(!1),[d,$]=l(e),y=w(null),v=w(null);A(()=>y.current?.focus(),[]),A(()=>{d&&v.current?.focus()},[d]);async function _(k){if(k.preventDefault(),!h){p(!0),$("");try{await t({username:n.trim(),password:o,totp:f&&c?c:void 0})}catch(g){if(g.code==="account_locked"){let C=Math.max(1,Math.ceil((g.details?.retry_after_ms||6e4)/6e4));$(s("signin.locked",{minutes:C}))}else g.code==="invalid_credentials"?($(s("signin.failed")),m(!0)):$(S(g.code));p(!1)}}}return a`
    <main id="main" class="signin" tabindex="-1">
      <h1>${s("signin.title")}</h1>
      <p>${s("signin.intro")}</p>
      <form onSubmit=${_} novalidate>
        ${d&&a`<p class="error" role="alert" tabindex="-1" ref=${v} id="signin-error">${d}</p>`}
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
          onInput=${k=>i(k.currentTarget.value)}
        />
        <label for="signin-password">${s("signin.password")}</label>
        <input
          id="signin-password"
          name="password"
          type="password"
          autocomplete="current-password"
          required
          value=${o}
          onInput=${k=>r(k.currentTarget.value)}
        />
        <div class="check">
          <input id="signin-usecode" type="checkbox" checked=${f} onChange=${k=>m(k.currentTarget.checked)} />
          <label for="signin-usecode">${s("signin.totp_toggle")}</label>
        </div>
        ${f&&a`<label for="signin-totp">${s("signin.totp")}</label>
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
            onInput=${k=>u(k.currentTarget.value.replace(/\D/g,""))}
          />`}
        <button type="submit" class="primary" disabled=${h} aria-busy=${h?"true":"false"}>
          ${h?s("signin.busy"):s("signin.submit")}
        </button>
      </form>
    </main>
  `}async function At(t){let{default:e}=await import("./qrcode-VZ7J5ZJR.js"),n=e(0,"M");n.addData(t),n.make();let i=n.getModuleCount(),o=4,r="";for(let f=0;f<i;f++)for(let m=0;m<i;m++)n.isDark(f,m)&&(r+=`M${m+o} ${f+o}h1v1h-1z`);let c=i+2*o,u=`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${c} ${c}" shape-rendering="crispEdges"><rect width="100%" height="100%" fill="#fff"/><path d="${r}" fill="#000"/></svg>`;return`data:image/svg+xml;charset=utf-8,${encodeURIComponent(u)}`}function ge({text:t,label:e}){let[n,i]=l("");return T(()=>{let o=!0;return At(t).then(r=>o&&i(r)),()=>{o=!1}},[t]),n?a`<img class="qr" src=${n} alt=${e} width="220" height="220" />`:null}var Ve=12;function Dt({value:t,label:e}){return a`<div class="progress" role="status">
    <label for="kdf-progress">${e}</label>
    <progress id="kdf-progress" max="1" value=${t}></progress>
    <span>${Math.round(t*100)} %</span>
  </div>`}function We({confirmField:t,submitLabel:e,onSubmit:n,busyLabel:i}){let[o,r]=l(""),[c,u]=l(""),[f,m]=l(null),[h,p]=l(""),d=w(null);A(()=>d.current?.focus(),[]);async function $(y){if(y.preventDefault(),p(""),t&&o.length<Ve)return p(s("setup.too_short",{n:Ve}));if(t&&o!==c)return p(s("setup.mismatch"));m(0);try{await n(o,v=>m(v))}catch(v){m(null),p(v.code==="bad_ciphertext"||v.code==="bad_passphrase"?s("setup.wrong_passphrase"):S(v.code))}}return a`<form onSubmit=${$}>
    ${h&&a`<p class="error" role="alert">${h}</p>`}
    <label for="setup-pass">${s("setup.passphrase")}</label>
    <input id="setup-pass" ref=${d} type="password" autocomplete=${t?"new-password":"current-password"} value=${o} onInput=${y=>r(y.currentTarget.value)} />
    ${t&&a`<label for="setup-again">${s("setup.passphrase_again")}</label>
      <input id="setup-again" type="password" autocomplete="new-password" value=${c} onInput=${y=>u(y.currentTarget.value)} />`}
    ${f!==null&&a`<${Dt} value=${f} label=${i} />`}
    <button type="submit" class="primary" disabled=${f!==null}>${e}</button>
  </form>`}function Qe({app:t,status:e,onReady:n}){let[i,o]=l("approve"),[r,c]=l(""),[u,f]=l(""),m=w(null);return A(()=>{let h=document.activeElement;(!h||h===document.body)&&m.current?.focus()},[e]),T(()=>{if(e==="new_device")return t.startNewDevice().then(c,()=>{}),t.whenApproved(n)},[e]),e==="first_device"?a`<main id="main" class="setup" tabindex="-1">
      <h1 tabindex="-1" ref=${m}>${s("setup.first_title")}</h1>
      <p>${s("setup.first_intro")}</p>
      <${We}
        confirmField=${!0}
        submitLabel=${s("setup.first_submit")}
        busyLabel=${s("setup.protecting")}
        onSubmit=${async(h,p)=>{await t.bootstrap(h,p),n()}}
      />
      <p class="hint">${s("setup.skip_hint")}</p>
      ${u&&a`<p class="error" role="alert">${u}</p>`}
      <button type="button" onClick=${()=>t.bootstrap(null).then(n,h=>f(S(h.code)))}>${s("setup.skip")}</button>
    </main>`:a`<main id="main" class="setup" tabindex="-1">
    <h1 tabindex="-1" ref=${m}>${s("setup.new_title")}</h1>
    <p>${s("setup.new_intro")}</p>
    <div role="group" aria-label=${s("setup.new_how")} class="row">
      <button type="button" aria-pressed=${i==="approve"} onClick=${()=>o("approve")}>${s("setup.by_other_device")}</button>
      <button type="button" aria-pressed=${i==="restore"} onClick=${()=>o("restore")}>${s("setup.by_passphrase")}</button>
    </div>
    ${i==="approve"?a`<section aria-labelledby="approve-title">
          <h2 id="approve-title">${s("setup.by_other_device")}</h2>
          <p>${s("setup.approve_steps")}</p>
          ${r&&a`<${ge} text=${r} label=${s("setup.code_qr")} />`}
          <label for="approval-code">${s("setup.code_text")}</label>
          <textarea id="approval-code" readonly rows="3" value=${r}></textarea>
          <p role="status">${s("setup.waiting_approval")}</p>
        </section>`:a`<section aria-labelledby="restore-title">
          <h2 id="restore-title">${s("setup.by_passphrase")}</h2>
          <${We}
            confirmField=${!1}
            submitLabel=${s("setup.restore_submit")}
            busyLabel=${s("setup.unlocking")}
            onSubmit=${async(h,p)=>{await t.restore(h,p),n()}}
          />
        </section>`}
  </main>`}var Ot=8*1024*1024;function Lt(t){return t<1e3?s("size.bytes",{n:t}):t<1e6?s("size.kb",{n:Math.round(t/100)/10}):s("size.mb",{n:Math.round(t/1e5)/10})}function Ut(t){let e=`message.failed.${t}`,n=s(e);return n===e?s("message.failed.other"):n}function Nt({content:t,app:e}){let[n,i]=l(null),[o,r]=l(""),[c,u]=l(!1),f=/^image\/(png|jpeg|gif|webp)$/.test(t.mime||"");async function m(){let p=await e.downloadFile(t);return new Blob([p],{type:t.mime||"application/octet-stream"})}T(()=>{if(!f||t.size>Ot)return;let p=null,d=!0;return m().then($=>{d&&(p=URL.createObjectURL($),i(p))}).catch(()=>d&&r(s("file.unreadable"))),()=>{d=!1,p&&URL.revokeObjectURL(p)}},[t.attachment_id]);async function h(){u(!0),r("");try{let p=await m(),d=document.createElement("a");d.href=URL.createObjectURL(p),d.download=String(t.name||"document"),document.body.append(d),d.click(),d.remove(),setTimeout(()=>URL.revokeObjectURL(d.href),1e4)}catch{r(s("file.unreadable"))}finally{u(!1)}}return a`<div class="file">
    ${n&&a`<img src=${n} alt=${s("file.preview_of",{name:t.name||""})} />`}
    <p>
      <span class="file-name">${t.name||s("file.unnamed")}</span>
      <span class="file-size"> · ${Lt(Number(t.size)||0)}</span>
    </p>
    <button type="button" onClick=${h} disabled=${c}>
      ${c?s("file.decrypting"):s("file.download",{name:t.name||""})}
    </button>
    ${o&&a`<p class="error" role="alert">${o}</p>`}
  </div>`}function jt({item:t,app:e}){if(t.pending&&t.failed)return a`<p class="body">${t.content.body}</p>
      <p class="state failed">${s("outbox.failed")}</p>
      <button type="button" onClick=${()=>e.outbox.discard(t.id)}>${s("outbox.discard")}</button>`;if(t.pending)return a`<p class="body">${t.content.type==="file"?t.content.name:t.content.body}</p>`;if(t.state==="waiting_for_key")return a`<p class="body state">${s("message.waiting")}</p>`;if(t.state==="failed")return a`<p class="body state failed">${Ut(t.error)}</p>`;let n=t.content||{};return n.type==="text"?a`<p class="body">${String(n.body??"")}</p>`:n.type==="file"?a`<${Nt} content=${n} app=${e} />`:n.type==="room.title"?a`<p class="body state">${s("room.titled",{title:String(n.title??"")})}</p>`:a`<p class="body state">${s("message.unsupported")}</p>`}function Ye({item:t,app:e,readers:n,mine:i}){let o=i?s("message.me"):e.nameOf(t.sender_user);return a`<li class=${`message${i?" mine":""}${t.pending?" pending":""}`}>
    <p class="meta">
      <span class="sender">${o}</span>
      ${t.ts&&a` <time datetime=${new Date(t.ts).toISOString()}>${j(t.ts)}</time>`}
      ${t.pending&&a` <span class="status">${t.sending?s("outbox.sending"):s("outbox.pending")}</span>`}
    </p>
    <${jt} item=${t} app=${e} />
    ${n.length>0&&a`<p class="readers">${s("receipts.read_by",{names:n.join(", ")})}</p>`}
  </li>`}var Pt=3e3,zt=4e3;function Je({app:t,roomId:e}){let[n,i]=l(""),[o,r]=l(null),[c,u]=l(""),f=w({sentAt:0,idle:0}),m=w(null);function h(){let v=Date.now();v-f.current.sentAt>Pt&&(f.current.sentAt=v,t.typing(e,!0)),clearTimeout(f.current.idle),f.current.idle=setTimeout(p,zt)}function p(){clearTimeout(f.current.idle),f.current.sentAt&&t.typing(e,!1),f.current.sentAt=0}async function d(v){v?.preventDefault();let _=n.trim();if(_){i(""),p();try{await t.queueText(e,_)}catch(k){i(_),u(S(k.code))}}}function $(v){v.key==="Enter"&&!v.shiftKey&&!v.isComposing&&d(v)}async function y(v){let _=v.currentTarget.files?.[0];if(v.currentTarget.value="",!!_){u(""),r({name:_.name,done:0});try{await t.sendFile(e,_,k=>r({name:_.name,done:k}))}catch(k){u(S(k.code))}finally{r(null)}}}return a`<form class="composer" onSubmit=${d}>
    ${c&&a`<p class="error" role="alert">${c}</p>`}
    ${o&&a`<div class="upload" role="status">
      <label for="upload-progress">${s("file.uploading",{name:o.name})}</label>
      <progress id="upload-progress" max="1" value=${o.done}></progress>
    </div>`}
    <label for="composer-text">${s("composer.label")}</label>
    <div class="composer-row">
      <textarea id="composer-text" rows="2" value=${n} aria-describedby="composer-hint" onInput=${v=>(i(v.currentTarget.value),h())} onKeyDown=${$} onBlur=${p}></textarea>
      <button type="submit" class="primary">${s("composer.send")}</button>
    </div>
    <p id="composer-hint" class="hint">${s("composer.hint")}</p>
    <input ref=${m} id="composer-file" type="file" class="visually-hidden" accept="image/*,application/pdf" onChange=${y} />
    <label for="composer-file" class="button-like">${s("composer.attach")}</label>
  </form>`}var Xe=new Set(["clinician","admin"]);function Bt({app:t,room:e,onDone:n,onCancel:i}){let[o,r]=l(""),[c,u]=l(null),[f,m]=l(null),[h,p]=l("member"),[d,$]=l(""),[y,v]=l(!1),[_,k]=l(""),g=w(null),C=w(null);A(()=>g.current?.focus(),[]),A(()=>{f&&C.current?.focus()},[f]);async function q(D){D.preventDefault(),k("");try{let b=await t.searchPeople(o.trim()),F=new Set(e.members.map(K=>K.user_id));u(b.filter(K=>!F.has(K.user_id)))}catch(b){k(S(b.code))}}let M=f&&!Xe.has(f.role)&&f.user_id!==e.patient_user_id;async function R(D){D.preventDefault(),v(!0),k("");try{await t.addMember(e,f.user_id,{roomRole:h,consentMethod:M?d:null}),n(s("members.added",{name:f.display_name||f.username}))}catch(b){k(b.code==="consent_required"?s("members.consent_needed"):S(b.code)),v(!1)}}if(f){let D=f.display_name||f.username;return a`<form class="add-member" onSubmit=${R}>
      <h3 tabindex="-1" ref=${C}>${s("members.add_who",{name:D})}</h3>
      ${_&&a`<p class="error" role="alert">${_}</p>`}
      ${Xe.has(f.role)&&a`<fieldset>
        <legend>${s("members.room_role")}</legend>
        ${["member","owner"].map(b=>a`<div class="check">
            <input type="radio" id=${`role-${b}`} name="room_role" value=${b} checked=${h===b} onChange=${()=>p(b)} />
            <label for=${`role-${b}`}>${s(`room_role.${b}`)}</label>
          </div>`)}
      </fieldset>`}
      ${M&&!e.patient_user_id&&a`<p class="hint" id="no-patient">${s("members.no_patient")}</p>`}
      ${M&&e.patient_user_id&&a`<fieldset>
        <legend>${s("members.consent_question")}</legend>
        <p class="hint">${s("members.consent_hint")}</p>
        ${["verbal","written"].map(b=>a`<div class="check">
            <input type="radio" id=${`consent-${b}`} name="consent" value=${b} required checked=${d===b} onChange=${()=>$(b)} />
            <label for=${`consent-${b}`}>${s(`consent.${b}`)}</label>
          </div>`)}
      </fieldset>`}
      <div class="row">
        <button type="submit" class="primary" disabled=${y||M&&(!d||!e.patient_user_id)} aria-describedby=${M&&!e.patient_user_id?"no-patient":void 0}>${s("members.add_confirm")}</button>
        <button type="button" onClick=${()=>m(null)}>${s("common.back")}</button>
      </div>
    </form>`}return a`<form class="add-member" onSubmit=${q} role="search">
    <label for="people-q">${s("members.search")}</label>
    <p class="hint" id="people-hint">${s("members.search_hint")}</p>
    <div class="row">
      <input id="people-q" ref=${g} value=${o} minlength="2" aria-describedby="people-hint" onInput=${D=>r(D.currentTarget.value)} />
      <button type="submit" disabled=${o.trim().length<2}>${s("members.search_go")}</button>
      <button type="button" onClick=${i}>${s("common.cancel")}</button>
    </div>
    ${_&&a`<p class="error" role="alert">${_}</p>`}
    ${c&&a`<div role="status">${c.length===0?s("members.nobody"):s("members.found",{count:c.length})}</div>
      <ul class="people">
        ${c.map(D=>a`<li key=${D.user_id}>
            <button type="button" onClick=${()=>m(D)}>
              ${D.display_name||D.username} <span class="muted">(${D.username}, ${s(`role.${D.role}`)})</span>
            </button>
          </li>`)}
      </ul>`}
  </form>`}function It(t){return t==="verified"?a`<span class="trust verified">${s("verify.badge_verified")}</span>`:t==="changed"?a`<span class="trust changed">${s("verify.badge_changed")}</span>`:null}function Ze({app:t,room:e,onClose:n}){let[i,o]=l({}),[,r]=l(0),[c,u]=l(!1),[f,m]=l(""),[h,p]=l(""),d=w(null),$=w(null),y=w(!1);if(A(()=>d.current?.focus(),[]),A(()=>{!c&&y.current&&$.current?.focus(),y.current=c},[c]),T(()=>t.on("identity",()=>r(g=>g+1)),[]),T(()=>{if(e)return t.presence(e.members.map(g=>g.user_id)).then(o,()=>{}),t.on("presence",g=>o(C=>({...C,[g.user_id]:g.online})))},[e]),!e)return a`<p>${s("app.loading")}</p>`;let _=e.members.find(g=>g.user_id===t.userId)?.room_role==="owner";async function k(g){let C=g.display_name||t.nameOf(g.user_id);if(confirm(s("members.remove_confirm",{name:C}))){p("");try{await t.removeMember(e.room_id,g.user_id),m(s("members.removed",{name:C}))}catch(q){p(S(q.code))}}}return a`<section aria-labelledby="members-title" class="members">
    <h2 id="members-title" tabindex="-1" ref=${d}>${s("members.title")}</h2>
    <p role="status">${f}</p>
    ${h&&a`<p class="error" role="alert">${h}</p>`}
    <ul>
      ${e.members.map(g=>a`<li key=${g.user_id}>
          <span class=${`dot ${i[g.user_id]?"on":"off"}`} aria-hidden="true"></span>
          <span class="name">${g.display_name||t.nameOf(g.user_id)}${g.user_id===t.userId?` (${s("message.me")})`:""}</span>
          <span class="muted">
            ${s(`role.${g.role}`)} · ${s(`room_role.${g.room_role}`)} · ${i[g.user_id]?s("presence.online"):s("presence.offline")}
          </span>
          ${g.user_id!==t.userId&&It(t.trustOf(g.user_id))}
          ${t.verification&&g.user_id!==t.userId&&g.role!=="patient"&&a`<button type="button" onClick=${()=>t.verification(g.user_id)}>${s("verify.open",{name:g.display_name||t.nameOf(g.user_id)})}</button>`}
          ${_&&g.user_id!==t.userId&&a`<button type="button" class="danger" onClick=${()=>k(g)}>
            ${s("members.remove",{name:g.display_name||t.nameOf(g.user_id)})}
          </button>`}
        </li>`)}
    </ul>
    ${_&&(c?a`<${Bt} app=${t} room=${e} onDone=${g=>(u(!1),m(g))} onCancel=${()=>u(!1)} />`:a`<button type="button" ref=${$} onClick=${()=>u(!0)}>${s("members.add")}</button>`)}
    <button type="button" onClick=${n}>${s("common.close")}</button>
  </section>`}function et({app:t,roomId:e,onClose:n}){let[i,o]=l(""),[r,c]=l(!0),[u,f]=l(null),[m,h]=l(!1),[p,d]=l(!1),[$,y]=l(""),v=w(null),_=w(null);A(()=>v.current?.focus(),[]),A(()=>{u&&_.current?.focus()},[u]);async function k(C){C.preventDefault(),h(!0),y("");try{f(await t.startConsultation(e,i.trim(),r))}catch(q){y(S(q.code))}finally{h(!1)}}async function g(){try{await navigator.clipboard.writeText(u.link),d(!0)}catch{d(!1)}}return u?a`<section class="consult-made" aria-labelledby="consult-made-title">
      <h2 id="consult-made-title" tabindex="-1" ref=${_}>${s("consult.created")}</h2>
      <p>${s("consult.link_intro")}</p>
      <label for="consult-link">${s("consult.link")}</label>
      <div class="row">
        <input id="consult-link" readonly value=${u.link} onFocus=${C=>C.currentTarget.select()} />
        <button type="button" onClick=${g}>${s("consult.copy")}</button>
      </div>
      <p role="status">${p?s("consult.copied"):""}</p>
      ${u.code&&a`<p>${s("consult.code",{code:u.code})}</p>`}
      <p class="hint">${s("consult.link_once")}</p>
      <div class="row">
        <a class="button-like primary" href=${`#/rooms/${encodeURIComponent(e)}/consultations/${encodeURIComponent(u.consultation_id)}`}>${s("consult.open")}</a>
        <button type="button" onClick=${n}>${s("common.close")}</button>
      </div>
    </section>`:a`<form class="consult-start" onSubmit=${k} aria-labelledby="consult-title">
    <h2 id="consult-title">${s("consult.start")}</h2>
    ${$&&a`<p class="error" role="alert">${$}</p>`}
    <label for="consult-name">${s("consult.patient_name")}</label>
    <p class="hint" id="consult-name-hint">${s("consult.patient_name_hint")}</p>
    <input id="consult-name" ref=${v} required maxlength="120" aria-describedby="consult-name-hint" value=${i} onInput=${C=>o(C.currentTarget.value)} />
    <div class="check">
      <input id="consult-code" type="checkbox" checked=${r} onChange=${C=>c(C.currentTarget.checked)} />
      <label for="consult-code">${s("consult.with_code")}</label>
    </div>
    <div class="row">
      <button type="submit" class="primary" disabled=${m||!i.trim()}>${s("consult.create")}</button>
      <button type="button" onClick=${n}>${s("common.cancel")}</button>
    </div>
  </form>`}function tt({app:t,roomId:e}){let[n,i]=l(()=>t.timeline(e)),[o,r]=l(null),[c,u]=l({}),[f,m]=l([]),[h,p]=l(null),[d,$]=l(""),y=w(null),v=w(null);A(()=>y.current?.focus(),[e]),T(()=>{i(t.timeline(e)),p(null);let C=b=>["offline","not_connected"].includes(b?.code),q=()=>t.room(e).then(b=>(r(b),$(""))).catch(b=>!C(b)&&$(S(b.code))),M=()=>t.receipts(e).then(u).catch(()=>{});t.connected&&(q(),M());let R=new Map,D=[t.on("timeline",b=>b===e&&i(t.timeline(e))),t.on("names",()=>i(t.timeline(e))),t.on("connection",b=>{b&&(i(t.timeline(e)),q(),M())}),t.on("room",b=>b===e&&q()),t.on("receipt",b=>b.room_id===e&&u(F=>({...F,[b.user_id]:Math.max(F[b.user_id]||0,b.seq)}))),t.on("typing",b=>{b.room_id===e&&(clearTimeout(R.get(b.user_id)),b.typing?R.set(b.user_id,setTimeout(()=>(R.delete(b.user_id),m([...R.keys()])),8e3)):R.delete(b.user_id),m([...R.keys()]))})];return()=>{D.forEach(b=>b()),R.forEach(b=>clearTimeout(b))}},[e]);let _=n.reduce((C,q)=>q.seq&&q.seq>C?q.seq:C,0);T(()=>{v.current?.scrollIntoView({block:"end"}),_>0&&document.visibilityState==="visible"&&t.markRead(e,_)},[_,n.length]);let k=De(()=>{let C=n.filter(M=>M.seq&&M.sender_user===t.userId),q=new Map;for(let[M,R]of Object.entries(c)){if(M===t.userId)continue;let D=[...C].reverse().find(b=>b.seq<=R);D&&q.set(D.id,[...q.get(D.id)||[],t.nameOf(M)])}return q},[n,c]),g=o?t.roomTitle(o):t.titleOf(e)||s("app.loading");return a`
    <section class="room" aria-labelledby="room-title">
      <header class="room-head">
        <h1 id="room-title" tabindex="-1" ref=${y}>${g}</h1>
        <div class="room-actions">
          <button type="button" aria-expanded=${h==="members"} aria-controls="room-panel" onClick=${()=>p(h==="members"?null:"members")}>
            ${s("members.title")}${o?` (${o.members.length})`:""}
          </button>
          ${t.canConsult&&a`<button type="button" class="primary" aria-expanded=${h==="consultation"} aria-controls="room-panel" onClick=${()=>p(h==="consultation"?null:"consultation")}>
            ${s("consult.start")}
          </button>`}
          ${t.canConsult&&a`<a class="button-like" href=${`#/rooms/${encodeURIComponent(e)}/consultations`}>${s("consult.all_open")}</a>`}
        </div>
      </header>
      ${d&&a`<p class="error" role="alert">${d}</p>`}
      ${h&&a`<div id="room-panel" class="panel">
        ${h==="members"?a`<${Ze} app=${t} room=${o} onClose=${()=>p(null)} />`:a`<${et} app=${t} roomId=${e} onClose=${()=>p(null)} />`}
      </div>`}
      <div class="timeline" role="log" aria-label=${s("room.messages")} aria-live="polite" aria-relevant="additions">
        ${n.length===0&&a`<p class="empty">${s("room.empty")}</p>`}
        <ol>
          ${n.map(C=>a`<${Ye} key=${C.id} item=${C} app=${t} mine=${C.sender_user===t.userId} readers=${k.get(C.id)||[]} />`)}
        </ol>
      </div>
      <div ref=${v}></div>
      <p class="typing" role="status">${f.length?s("room.typing",{names:f.map(C=>t.nameOf(C)).join(", ")}):""}</p>
      <${Je} app=${t} roomId=${e} />
    </section>
  `}function nt({app:t}){let[e,n]=l(null),[i,o]=l(""),[r,c]=l(""),[u,f]=l(""),m=w(null);async function h(){try{n(await t.devices())}catch($){f(S($.code))}}A(()=>m.current?.focus(),[]),T(()=>{h()},[]);async function p($){$.preventDefault(),f(""),c("");try{await t.approveDevice(i.trim()),o(""),c(s("devices.approved")),h()}catch(y){f(y.code==="bad_code"?s("devices.bad_code"):S(y.code))}}async function d($){let y=s("devices.name",{name:$.name,id:$.short_id});if(confirm(s("devices.revoke_confirm",{name:y}))){f(""),c("");try{await t.revokeDevice($.device_id),c(s("devices.revoked",{name:y})),h()}catch(v){f(S(v.code))}}}return a`<section class="devices" aria-labelledby="devices-title">
    <h1 id="devices-title" tabindex="-1" ref=${m}>${s("devices.title")}</h1>
    <p role="status">${r}</p>
    ${u&&a`<p class="error" role="alert">${u}</p>`}
    ${e===null?a`<p>${s("app.loading")}</p>`:a`<ul class="device-list" aria-label=${s("devices.list")}>
          ${e.map($=>{let y=s("devices.name",{name:$.name,id:$.short_id});return a`<li key=${$.device_id}>
              <span class="name">${y}${$.current?` (${s("devices.this_one")})`:""}</span>
              <span class="muted">${s("devices.signed_in",{when:j($.signed_in_at)})} · ${s("devices.last_seen",{when:j($.last_seen_at)})}</span>
              ${!$.current&&a`<button type="button" class="danger" onClick=${()=>d($)}>${s("devices.revoke",{name:y})}</button>`}
            </li>`})}
        </ul>`}
    <form onSubmit=${p} class="approve">
      <h2>${s("devices.approve_title")}</h2>
      <p class="hint" id="approve-hint">${s("devices.approve_hint")}</p>
      <label for="approve-code">${s("devices.approve_code")}</label>
      <textarea id="approve-code" rows="3" aria-describedby="approve-hint" value=${i} onInput=${$=>o($.currentTarget.value)}></textarea>
      <button type="submit" class="primary" disabled=${!i.trim()}>${s("devices.approve")}</button>
    </form>
  </section>`}function st({app:t,userId:e,onClose:n}){let[i,o]=l(null),[r,c]=l(""),[u,f]=l(()=>t.nameOf(e)),m=w(null),h=w(null);A(()=>m.current?.focus(),[e]),T(()=>{let $=()=>t.verificationFacts(e).then(o,y=>c(S(y.code)));return $(),t.learnName(e).then(y=>y&&f(y)),t.on("identity",y=>y===e&&$())},[e]);async function p(){try{await t.markVerified(e),h.current?.focus()}catch($){c(S($.code))}}let d=i?i.number.match(/.{1,5}/g):[];return a`<section class="verify" aria-labelledby="verify-title">
    <h2 id="verify-title" tabindex="-1" ref=${m}>${s("verify.title",{name:u})}</h2>
    ${r&&a`<p class="error" role="alert">${r}</p>`}
    ${i&&a`<p>${s("verify.intro",{name:u})}</p>
      <p class="safety-number" aria-label=${s("verify.number_label")}>
        ${d.map($=>a`<span>${$}</span> `)}
      </p>
      <${ge} text=${i.qr} label=${s("verify.qr_label",{name:u})} />
      <p role="status" tabindex="-1" ref=${h}>${i.state==="verified"?s("verify.is_verified",{name:u}):i.state==="changed"?s("verify.changed",{name:u}):s("verify.not_yet")}</p>
      ${i.state!=="verified"&&a`<button type="button" class="primary" onClick=${p}>${s("verify.match")}</button>`}`}
    <button type="button" onClick=${n}>${s("common.close")}</button>
  </section>`}function be(t,e,n){let[i,o]=l(null);return T(()=>{if(!n)return;let r=new Ue(t.mediaSignal(),e);window.relaisCall=r,o(r),r.start();let c=t.on("connection",u=>u&&r.resume());return()=>{c(),r.hangup(),window.relaisCall===r&&delete window.relaisCall,o(null)}},[e,n]),i}function ye({leg:t,patientName:e,names:n}){let[i,o]=l(""),[r,c]=l({mic:t.micOn,camera:t.cameraOn,hasMic:!0,hasCamera:!0}),u=w(n);u.current=n,T(()=>{let p=[t.on("state",d=>{d==="connected"?o(s("consult.call_connected")):d==="reconnecting"&&o(s("consult.call_reconnecting"))}),t.on("devices",d=>{c({mic:t.micOn,camera:t.cameraOn,hasMic:d.audio,hasCamera:d.video}),d.problem&&o(s(`consult.devices_${d.problem}`))}),t.on("local",d=>c($=>({...$,mic:d.mic,camera:d.camera}))),t.on("mode",d=>{if(!d.previous)return;let $=re(d),y=d.participant_id===t.participantId?s("consult.you"):u.current.get(d.participant_id)||s("people.unknown"),v=s(`consult.mode_${ae(d.mode)}`);o($?s("consult.mode_changed_why",{name:y,mode:v,cause:s(`consult.cause_${$}`)}):s("consult.mode_changed",{name:y,mode:v}))})];return()=>p.forEach(d=>d())},[t]);function f(){let p=!r.mic;t.setMicrophone(p)&&o(s(p?"consult.mic_on":"consult.mic_off"))}function m(){let p=!r.camera;t.setCamera(p)&&o(s(p?"consult.camera_on":"consult.camera_off"))}let h=e||s("people.unknown");return a`<section class="call" aria-labelledby="call-title">
    <h2 id="call-title">${s("consult.call_title")}</h2>
    <p class="call-status" role="status">${i}</p>
    <div class="stage">
      <${Ne} leg=${t} name=${h} label=${s("consult.remote_video",{name:h})} noPicture=${s("consult.no_picture",{name:h})} />
      <${je} leg=${t} />
    </div>
    <div class="row" role="group" aria-label=${s("consult.call_controls")}>
      <button type="button" aria-pressed=${r.mic?"false":"true"} disabled=${!r.hasMic} onClick=${f}>${s("consult.mic_mute")}</button>
      <button type="button" aria-pressed=${r.camera?"false":"true"} disabled=${!r.hasCamera} onClick=${m}>${s("consult.camera_mute")}</button>
    </div>
  </section>`}function Te(t){return typeof t=="number"?Math.round(t):"–"}function it({leg:t,participantId:e}){let[,n]=l(0);T(()=>{if(!t)return;let m=p=>p?.participant_id===e&&n(d=>d+1),h=[t.on("mode",m),t.on("quality",m)];return()=>h.forEach(p=>p())},[t,e]);let i=t?.modes.get(e),o=t?.quality.get(e);if(!i&&!o)return null;let r=o?.mode||i?.mode,c=i&&i.mode===r?re(i):"",u=o?.measured||{},f=Math.round(100*Math.max(u.loss_up||0,u.loss_down||0));return a`<span class="media">
    <span class="mode"> · ${s(`consult.mode_${ae(r)}`)}${c?` (${s(`consult.cause_${c}`)})`:""}</span>
    ${o&&a`<span class="quality"> · ${s("consult.quality",{up:Te(u.in_kbps),down:Te(u.out_kbps),loss:f,rtt:Te(u.rtt_ms)})}</span>`}
  </span>`}var Ft=["auto","audio-only","text-only"];function ot({leg:t,participantId:e,label:n}){let[i,o]=l(()=>t?.choices.get(e)||"auto"),[r,c]=l(!1),[u,f]=l(""),m=w(Promise.resolve()),h=w(0);if(T(()=>{if(t)return o(t.choices.get(e)||"auto"),t.on("choice",$=>$.participant_id===e&&o($.mode))},[t,e]),!t)return null;async function p($){let y=$.currentTarget.value;o(y),c(!0),f(""),h.current+=1;let v=m.current.then(()=>t.chooseMode(e,y));m.current=v.catch(()=>{});try{await v}catch(_){o(t.choices.get(e)||"auto"),f(S(_.code))}finally{h.current-=1,h.current||c(!1)}}let d=`mode-${e}`;return a`<span class="mode-switch">
    <label for=${d}>${n}</label>
    <select id=${d} value=${i} aria-busy=${r?"true":"false"} onChange=${p}>
      ${Ft.map($=>a`<option value=${$}>${s(`consult.choice_${$.replace("-","_")}`)}</option>`)}
    </select>
    ${u&&a`<span class="error" role="alert">${u}</span>`}
  </span>`}var at=t=>["offline","not_connected"].includes(t?.code);function Kt({p:t,leg:e,me:n,isHost:i=!0}){let o=t.user_id===n,r=t.state==="admitted"?t.present?s("consult.present"):s("consult.absent"):s(`consult.state_${t.state}`);return a`<li>
    <span class="who">${t.display_name||s("people.unknown")}</span>
    <span class="role"> · ${s(`consult.role_${t.role}`)}</span>
    <span class="state"> · ${r}</span>
    ${t.state==="admitted"&&a`<${it} leg=${e} participantId=${t.participant_id} />`}
    ${t.state==="admitted"&&e&&(t.present||o)&&(i||o)&&a`<${ot}
      leg=${e}
      participantId=${t.participant_id}
      label=${o?s("consult.mode_choice_mine"):s("consult.mode_choice_label",{name:t.display_name||s("people.unknown")})}
    />`}
  </li>`}function rt({app:t,roomId:e,consultationId:n}){let[i,o]=l(null),[r,c]=l([]),[u,f]=l([]),[m,h]=l(""),[p,d]=l(!1),[$,y]=l(!1),[v,_]=l(""),k=w(null),g=w(null),C=w(null),q=w(null),M=w(null),[R,D]=l(null),[b,F]=l(null),[K,X]=l([]),[N,z]=l(""),[H,O]=l(null),G=w(null);G.current=H;function Z(x){let I=q.current,V=I?x.filter(L=>!I.has(L.participant_id)):[];q.current=new Set(x.map(L=>L.participant_id)),V.length&&h(s("consult.arrived",{name:V.map(L=>L.display_name||s("people.unknown")).join(", ")})),c(x)}A(()=>k.current?.focus(),[n]),A(()=>{p&&g.current?.focus()},[p]),A(()=>{R&&({waiting:M,end:C,heading:k}[R]?.current?.focus(),D(null))},[R]),T(()=>{let x=new Pe(t.e2ee,n),I=!1,V=null;F(null),X([]);let L=x.on("unapproved",J=>X(J)),B=async()=>{if(!(I||!t.connected))try{await x.open(),I||F(x)}catch(J){!I&&J?.code!=="consultation_ended"&&(V=setTimeout(B,3e3))}},le=t.on("connection",J=>J&&(x.chatRoomId?x.wantSync():B()));return V=setTimeout(B,0),()=>{I=!0,clearTimeout(V),L(),le(),x.close()}},[n]),T(()=>{let x=!1;q.current=null,o(null),z(""),O(null),c([]),f([]),h(""),d(!1),_("");let I=async()=>{try{let L=await t.consultation(n);if(x)return;L.status==="open"&&await t.joinConsultation(n);let B=L.status==="open"?await t.consultation(n):L;if(x)return;o(B.status),O(B.me||null),f(B.participants||[]),Z(B.waiting||[]),_("")}catch(L){if(x)return;L.code==="consultation_ended"?o("ended"):at(L)||_(S(L.code))}};t.connected&&I();let V=[t.on("connection",L=>L&&I()),t.on("consult",(L,B)=>{if(B?.consultation_id===n)if(L==="consult.waiting")Z(B.waiting||[]);else if(L==="consult.participants")f(B.participants||[]);else if(L==="consult.state"){let le=G.current?.state;O(J=>J&&{...J,state:B.state}),B.state==="admitted"&&le&&le!=="admitted"&&I()}else L==="consult.ended"&&(o("ended"),c([]))})];return()=>{x=!0,V.forEach(L=>L())}},[n]);async function P(x,I){y(!0),_("");try{await x(),D(I)}catch(V){_(S(V.code))}finally{y(!1)}}let E=x=>P(()=>b?b.admit(x.participant_id):t.admit(n,x.participant_id),"waiting"),U=x=>b?.names.get(x)||t.nameOf(x),se=x=>P(()=>t.deny(n,x.participant_id),"waiting"),ee=()=>P(async()=>{if(await t.endConsultation(n),d(!1),o("ended"),c([]),e)try{await t.postConsultationSummary(n,e),z(s("consult.summary_posted"))}catch{z(s("consult.summary_failed"))}},"heading"),ht=i==="ended",te=!H||H.role==="host",ie=te||H?.state==="admitted",qe=u.some(x=>x.role!=="host"&&x.state==="admitted"),[$t,ve]=l(!1);T(()=>{i==="open"&&(te?qe:ie)?ve(!0):(i!=="open"||!ie)&&ve(!1)},[i,qe,te,ie]),T(()=>ve(!1),[n]);let we=be(t,n,$t),gt=u.find(x=>x.role==="patient")||u.find(x=>x.user_id!==t.userId),Me=()=>P(async()=>{await t.leaveConsultation(n),location.hash=Re(e)},null);return a`<section class="consultation" aria-labelledby="consultation-title">
    <h1 id="consultation-title" tabindex="-1" ref=${k}>${s("consult.screen_title")}</h1>
    <p><a href=${Re(e)}>${e?s("consult.all_open"):s("consult.assisted_queue")}</a>${e&&a` · <a href=${`#/rooms/${encodeURIComponent(e)}`}>${s("consult.back_room")}</a>`}</p>
    <p class="status" role="status">${ht?N||s("consult.ended"):m}</p>
    ${v&&a`<p class="error" role="alert">${v}</p>`}
    ${i===null&&!v&&a`<p>${s("app.loading")}</p>`}
    ${i==="open"&&!ie&&a`<section aria-labelledby="colleague-waiting-title">
      <h2 id="colleague-waiting-title">${s("consult.colleague_waiting_title")}</h2>
      <p role="status">${H?.state==="denied"?s("consult.colleague_denied"):s("consult.colleague_waiting")}</p>
      <button type="button" onClick=${Me}>${s("consult.leave")}</button>
    </section>`}
    ${i==="open"&&ie&&a`
      ${te&&a`<section aria-labelledby="waiting-title">
        <h2 id="waiting-title" tabindex="-1" ref=${M}>${s("consult.waiting_title")}</h2>
        ${r.length===0?a`<p>${s("consult.waiting_empty")}</p>`:a`<ul class="waiting">
              ${r.map(x=>a`<li key=${x.participant_id}>
                  <span class="who">${x.display_name||s("people.unknown")}</span>
                  <span class="role"> · ${s(`consult.role_${x.role}`)}</span>
                  <span class="row">
                    <button type="button" class="primary" disabled=${$} aria-label=${s("consult.admit_who",{name:x.display_name})} onClick=${()=>E(x)}>${s("consult.admit")}</button>
                    <button type="button" disabled=${$} aria-label=${s("consult.deny_who",{name:x.display_name})} onClick=${()=>se(x)}>${s("consult.deny")}</button>
                  </span>
                </li>`)}
            </ul>`}
      </section>`}
      ${we&&a`<${ye} leg=${we} patientName=${gt?.display_name} names=${new Map(u.map(x=>[x.participant_id,x.display_name]))} />`}
      ${K.length>0&&a`<section aria-labelledby="unapproved-title">
        <h2 id="unapproved-title">${s("text.unapproved_title")}</h2>
        <p>${s("text.unapproved_intro")}</p>
        <ul>
          ${K.map(x=>a`<li key=${x}><button type="button" onClick=${()=>b?.approve(x)}>${s("text.approve",{name:U(x)})}</button></li>`)}
        </ul>
      </section>`}
      <${ze} text=${b} nameOf=${U} />
      <section aria-labelledby="participants-title">
        <h2 id="participants-title">${s("consult.participants_title")}</h2>
        <ul class="participants">
          ${u.map(x=>a`<${Kt} key=${x.participant_id} p=${x} leg=${we} me=${t.userId} isHost=${te} />`)}
        </ul>
      </section>
      ${te&&a`<${Gt} app=${t} consultationId=${n} participants=${u} />`}
      ${te?p?a`<div class="confirm" role="group" aria-labelledby="end-question">
            <p id="end-question">${s("consult.end_confirm")}</p>
            <div class="row">
              <button type="button" class="danger" ref=${g} disabled=${$} onClick=${ee}>${s("consult.end_yes")}</button>
              <button type="button" onClick=${()=>(d(!1),D("end"))}>${s("common.cancel")}</button>
            </div>
          </div>`:a`<button type="button" class="danger" ref=${C} onClick=${()=>d(!0)}>${s("consult.end")}</button>`:a`<button type="button" onClick=${Me}>${s("consult.leave")}</button>`}
    `}
  </section>`}function Re(t){return t?`#/rooms/${encodeURIComponent(t)}/consultations`:"#/consultations"}function ct({app:t,roomId:e}){let[n,i]=l(null),[o,r]=l([]),[c,u]=l(""),f=w(null);return A(()=>f.current?.focus(),[e]),T(()=>{let m=()=>t.openConsultations(e).then(d=>(i(d),u(""))).catch(d=>!at(d)&&u(S(d.code))),h=()=>e?Promise.resolve():t.invitations().then(r).catch(()=>{});t.connected&&(m(),h());let p=[t.on("connection",d=>d&&(m(),h())),t.on("consult",d=>d==="consult.invited"&&h())];return()=>p.forEach(d=>d())},[e]),a`<section aria-labelledby="consultations-title">
    <h1 id="consultations-title" tabindex="-1" ref=${f}>${e?s("consult.list_title"):s("consult.assisted_queue")}</h1>
    ${e&&a`<p><a href=${`#/rooms/${encodeURIComponent(e)}`}>${s("consult.back_room")}</a></p>`}
    ${c&&a`<p class="error" role="alert">${c}</p>`}
    ${n===null?!c&&a`<p>${s("app.loading")}</p>`:n.length===0?a`<p>${s("consult.list_empty")}</p>`:a`<ul class="consultations">
            ${n.map(m=>a`<li key=${m.consultation_id}>
                <a href=${`${Re(e)}/${encodeURIComponent(m.consultation_id)}`}>
                  ${s("consult.opened_at",{when:j(m.created_at)})}${m.assisted_by?` · ${s("consult.assisted_by",{name:m.assisted_by.display_name})}`:""}${m.waiting?` · ${s("consult.waiting_count",{count:m.waiting})}`:""}
                </a>
              </li>`)}
          </ul>`}
    ${!e&&o.length>0&&a`<section aria-labelledby="invitations-title">
      <h2 id="invitations-title">${s("consult.invitations_title")}</h2>
      <ul class="consultations">
        ${o.map(m=>a`<li key=${m.consultation_id}>
            <a href=${`#/consultations/${encodeURIComponent(m.consultation_id)}`}>
              ${s("consult.invitation_from",{name:t.nameOf(m.host_user_id),when:j(m.created_at)})}
            </a>
          </li>`)}
      </ul>
    </section>`}
  </section>`}function Gt({app:t,consultationId:e,participants:n}){let[i,o]=l(""),[r,c]=l([]),[u,f]=l(""),[m,h]=l("");T(()=>{if(i.trim().length<2){c([]);return}let $=!1,y=setTimeout(()=>{t.findClinicians(i.trim()).then(v=>!$&&c(v.filter(_=>_.user_id!==t.userId))).catch(v=>!$&&h(S(v.code)))},250);return()=>{$=!0,clearTimeout(y)}},[i]);let p=new Set(n.map($=>$.user_id));async function d($){h("");try{await t.inviteColleague(e,$.user_id),f(s("consult.invited_colleague",{name:$.display_name||$.username})),o("")}catch(y){h(S(y.code))}}return a`<section aria-labelledby="invite-title">
    <h2 id="invite-title">${s("consult.invite_title")}</h2>
    <p role="status">${u}</p>
    ${m&&a`<p class="error" role="alert">${m}</p>`}
    <label for="invite-q">${s("consult.invite_search")}</label>
    <input id="invite-q" type="search" autocomplete="off" value=${i} onInput=${$=>o($.currentTarget.value)} />
    ${r.length>0&&a`<ul class="people">
      ${r.map($=>a`<li key=${$.user_id}>
          <button type="button" disabled=${p.has($.user_id)} onClick=${()=>d($)}>
            ${s("consult.invite_who",{name:$.display_name||$.username})}
          </button>
        </li>`)}
    </ul>`}
  </section>`}function lt(){let t=location.hash.replace(/^#\/?/,"").split("/");if(t[0]==="rooms"&&t[1]&&t[2]==="consultations"){let e=decodeURIComponent(t[1]);return t[3]?{view:"consultation",id:e,consultation:decodeURIComponent(t[3])}:{view:"consultations",id:e}}return t[0]==="consultations"?t[1]?{view:"consultation",id:null,consultation:decodeURIComponent(t[1])}:{view:"consultations",id:null}:t[0]==="rooms"&&t[1]?{view:"room",id:decodeURIComponent(t[1])}:t[0]==="devices"?{view:"devices"}:t[0]==="verify"&&t[1]?{view:"verify",id:decodeURIComponent(t[1])}:{view:"home"}}function Ht({app:t,onDone:e}){let[n,i]=l(""),[o,r]=l(!1),[c,u]=l(""),f=w(null);A(()=>f.current?.focus(),[]);async function m(h){h.preventDefault(),r(!0),u("");try{let p=await t.createRoom(n.trim());e(p)}catch(p){u(S(p.code)),r(!1)}}return a`<form class="new-room" onSubmit=${m}>
    ${c&&a`<p class="error" role="alert">${c}</p>`}
    <label for="new-room-title">${s("rooms.new_title")}</label>
    <p class="hint" id="new-room-hint">${s("rooms.new_hint")}</p>
    <input id="new-room-title" ref=${f} maxlength="200" required aria-describedby="new-room-hint" value=${n} onInput=${h=>i(h.currentTarget.value)} />
    <div class="row">
      <button type="submit" class="primary" disabled=${o||!n.trim()}>${s("rooms.create")}</button>
      <button type="button" onClick=${()=>e(null)}>${s("common.cancel")}</button>
    </div>
  </form>`}function dt({app:t,onSignOut:e,onForget:n,onLanguage:i}){let[o,r]=l(null),[c,u]=l(t.connected),[f,m]=l(!1),[h,p]=l(lt()),[d,$]=l(!1),[y,v]=l("");T(()=>{let g=()=>p(lt());return addEventListener("hashchange",g),()=>removeEventListener("hashchange",g)},[]),T(()=>{let g=null,C=()=>{g||(g=setTimeout(async()=>{g=null;try{let M=await t.listRooms();M.sort((R,D)=>D.last_activity_at-R.last_activity_at),r(M),v("")}catch(M){M.code!=="offline"&&M.code!=="not_connected"&&v(S(M.code))}},150))},q=[t.on("rooms",C),t.on("connection",u),t.on("consult",M=>M==="consult.invited"&&m(!0))];return C(),()=>{q.forEach(M=>M()),clearTimeout(g)}},[t]),t.verification=g=>location.hash=`#/verify/${encodeURIComponent(g)}`;let _=t.session.record,k;return h.view==="room"?k=a`<${tt} app=${t} roomId=${h.id} />`:h.view==="consultation"?k=a`<${rt} app=${t} roomId=${h.id} consultationId=${h.consultation} />`:h.view==="consultations"?k=a`<${ct} app=${t} roomId=${h.id} />`:h.view==="devices"?k=a`<${nt} app=${t} />`:h.view==="verify"?k=a`<${st} app=${t} userId=${h.id} onClose=${()=>history.back()} />`:k=a`<h1 tabindex="-1">${s("workspace.welcome")}</h1><p>${s("workspace.pick_room")}</p>`,a`
    <a class="skip" href="#main" onClick=${g=>(g.preventDefault(),document.getElementById("main")?.focus())}>${s("app.skip")}</a>
    <header class="bar">
      <span class="brand">${s("app.name")}</span>
      <span class="status" role="status">${c?"":s("workspace.offline")}</span>
      <span class="who">${s("workspace.signed_in_as",{name:_.display_name||_.username})}</span>
      <label class="lang">
        <span>${s("lang.label")}</span>
        <select value=${ue()} onChange=${g=>i(g.currentTarget.value)}>
          ${de.map(g=>a`<option value=${g}>${s(`lang.${g}`)}</option>`)}
        </select>
      </label>
      <a class="button-like" href="#/devices">${s("workspace.devices")}</a>
      <button type="button" onClick=${e}>${s("workspace.sign_out")}</button>
      <button type="button" class="danger" onClick=${n}>${s("workspace.forget")}</button>
    </header>
    <div class="workspace">
      <nav aria-labelledby="rooms-title" class="rooms">
        <h2 id="rooms-title">${s("rooms.title")}</h2>
        ${t.canConsult&&a`<p><a href="#/consultations" aria-current=${h.view==="consultations"&&h.id===null?"page":void 0}>${s("consult.assisted_queue")}</a></p>`}
        ${t.canConsult&&a`<p role="status">${f&&a`<a href="#/consultations" onClick=${()=>m(!1)}>${s("consult.invited_notice")}</a>`}</p>`}
        ${t.canConsult&&(d?a`<${Ht} app=${t} onDone=${g=>($(!1),g&&(location.hash=`#/rooms/${g}`))} />`:a`<button type="button" onClick=${()=>$(!0)}>${s("workspace.new_room")}</button>`)}
        ${y&&a`<p class="error" role="alert">${y}</p>`}
        ${o===null?a`<p>${s("app.loading")}</p>`:o.length===0?a`<p>${s("rooms.empty")}</p>`:a`<ul>
                ${o.map(g=>a`<li key=${g.room_id}>
                    <a href=${`#/rooms/${g.room_id}`} aria-current=${h.view==="room"&&h.id===g.room_id?"page":void 0}>
                      <span class="room-name">${g.title||s("rooms.untitled",{id:g.room_id.slice(2,8)})}</span>
                      ${g.unread>0&&a`<span class="badge"><span aria-hidden="true">${g.unread}</span><span class="visually-hidden">${s("rooms.unread",{count:g.unread})}</span></span>`}
                      <span class="when">${s("rooms.last_activity",{when:j(g.last_activity_at)})}</span>
                    </a>
                  </li>`)}
              </ul>`}
      </nav>
      <main id="main" tabindex="-1">${k}</main>
    </div>
  `}var Vt="assisted-v1",Wt=["id_card","passport","residence_permit","health_card","known_to_staff","other"],Qt=["verbal","written","on_device"],Yt=()=>new Date().toISOString().slice(0,10);function ut(t){let e=/^\s*(\d{1,2})[/.\- ](\d{1,2})[/.\- ](\d{4})\s*$/.exec(t);if(!e)return null;let[n,i,o]=[Number(e[1]),Number(e[2]),Number(e[3])],r=new Date(Date.UTC(o,i-1,n));if(r.getUTCFullYear()!==o||r.getUTCMonth()!==i-1||r.getUTCDate()!==n)return null;let c=r.toISOString().slice(0,10);return c>Yt()||o<1880?null:c}function Jt({list:t,onLeave:e}){let[n,i]=l(!1),[o,r]=l("");async function c(u){i(!0),r("");try{await e(u)}catch(f){r(S(f.code))}finally{i(!1)}}return a`<section class="panel leftovers" aria-labelledby="assist-leftover-title">
    <h2 id="assist-leftover-title">${s("assist.leftover_title")}</h2>
    <p>${s("assist.leftover_intro")}</p>
    ${o&&a`<p class="error" role="alert">${o}</p>`}
    <ul>
      ${t.map(u=>{let f=j(u.created_at);return a`<li key=${u.consultation_id}>
          <button type="button" disabled=${n} onClick=${()=>c(u)}>${s("assist.leftover_leave",{when:f})}</button>
        </li>`})}
    </ul>
  </section>`}function mt({app:t,leftovers:e=[],onLeaveLeftover:n,onOpened:i}){let[o,r]=l(""),[c,u]=l(""),[f,m]=l(""),[h,p]=l(""),[d,$]=l(""),[y,v]=l(!1),[_,k]=l(""),[g,C]=l(null),[q,M]=l(null),[R,D]=l(!1),[b,F]=l(!1),[K,X]=l(""),[N,z]=l(""),H=w(null),O={name:w(null),birth:w(null),method:w(null),consentMethod:w(null),agreed:w(null),query:w(null)};A(()=>{H.current?.focus()},[]);async function G(){let E=_.trim();if(E.length<2){z(s("assist.search_short")),O.query.current?.focus();return}D(!0),z("");try{let U=await t.findClinicians(E);C(U),M(U.length===1?U[0]:null),z(U.length?s("assist.search_found",{count:U.length}):s("assist.search_none"))}catch(U){C(null),z(S(U.code))}finally{D(!1)}}async function Z(E){E.preventDefault();let U=[];if(o.trim()||U.push(["name","assist.full_name"]),ut(c)||U.push(["birth","assist.birth_date"]),f||U.push(["method","assist.method"]),d||U.push(["consentMethod","assist.consent_method"]),y||U.push(["agreed","assist.consent_agree"]),q||U.push(["query","assist.clinician"]),U.length){X(s("assist.missing",{fields:U.map(([,ee])=>s(ee)).join(" ; ")})),O[U[0][0]].current?.focus();return}F(!0),X("");let se={full_name:o.trim(),birth_date:ut(c),method:f};h.trim()&&(se.detail=h.trim());try{let ee=await t.openAssisted({host_user_id:q.user_id,patient:se,consent:{text_version:Vt,method:d}});i({...ee,patient:{full_name:se.full_name},clinician:{display_name:q.display_name||q.username}})}catch(ee){X(S(ee.code)),F(!1)}}let P={autocomplete:"off",autocapitalize:"off",spellcheck:!1};return a`<form class="assist-start" onSubmit=${Z} aria-labelledby="assist-start-title" autocomplete="off" novalidate>
    <h1 id="assist-start-title" tabindex="-1" ref=${H}>${s("assist.start_title")}</h1>
    <p>${s("assist.start_intro")}</p>
    ${e.length>0&&a`<${Jt} list=${e} onLeave=${n} />`}
    ${K&&a`<p class="error" role="alert">${K}</p>`}

    <fieldset>
      <legend>${s("assist.identity")}</legend>
      <label for="assist-name">${s("assist.full_name")}</label>
      <input id="assist-name" ref=${O.name} ...${P} maxlength="200" required value=${o} onInput=${E=>r(E.currentTarget.value)} />
      <label for="assist-birth">${s("assist.birth_date")}</label>
      <p class="hint" id="assist-birth-hint">${s("assist.birth_date_hint")}</p>
      <input id="assist-birth" ref=${O.birth} inputmode="numeric" ...${P} maxlength="10" required aria-describedby="assist-birth-hint" value=${c} onInput=${E=>u(E.currentTarget.value)} />
      <label for="assist-method">${s("assist.method")}</label>
      <select id="assist-method" ref=${O.method} ...${P} required value=${f} onChange=${E=>m(E.currentTarget.value)}>
        <option value="">${s("assist.choose")}</option>
        ${Wt.map(E=>a`<option value=${E}>${s(`assist.method_${E}`)}</option>`)}
      </select>
      <label for="assist-detail">${s("assist.detail")}</label>
      <p class="hint" id="assist-detail-hint">${s("assist.detail_hint")}</p>
      <input id="assist-detail" ...${P} maxlength="200" aria-describedby="assist-detail-hint" value=${h} onInput=${E=>p(E.currentTarget.value)} />
    </fieldset>

    <fieldset>
      <legend>${s("assist.consent")}</legend>
      <p id="assist-consent-text" class="consent-text">${s("assist.consent_text")}</p>
      <p class="hint">${s("assist.consent_read")}</p>
      <label for="assist-consent-method">${s("assist.consent_method")}</label>
      <select id="assist-consent-method" ref=${O.consentMethod} required value=${d} onChange=${E=>$(E.currentTarget.value)}>
        <option value="">${s("assist.choose")}</option>
        ${Qt.map(E=>a`<option value=${E}>${s(`assist.consent_${E}`)}</option>`)}
      </select>
      <div class="check">
        <input id="assist-agree" ref=${O.agreed} type="checkbox" aria-describedby="assist-consent-text" checked=${y} onChange=${E=>v(E.currentTarget.checked)} />
        <label for="assist-agree">${s("assist.consent_agree")}</label>
      </div>
    </fieldset>

    <fieldset>
      <legend>${s("assist.clinician")}</legend>
      <label for="assist-query">${s("assist.search")}</label>
      <p class="hint" id="assist-query-hint">${s("assist.search_hint")}</p>
      <div class="row">
        <input id="assist-query" ref=${O.query} type="search" ...${P} maxlength="120" aria-describedby="assist-query-hint" value=${_}
          onInput=${E=>k(E.currentTarget.value)}
          onKeyDown=${E=>E.key==="Enter"&&(E.preventDefault(),G())} />
        <button type="button" disabled=${R} onClick=${G}>${s("assist.search_button")}</button>
      </div>
      <p role="status" class="hint">${N}</p>
      ${g&&g.length>0&&a`<div role="radiogroup" aria-label=${s("assist.clinician_pick")} class="choices">
        ${g.map(E=>a`<div class="check" key=${E.user_id}>
            <input type="radio" id=${`assist-c-${E.user_id}`} name="assist-clinician" checked=${q?.user_id===E.user_id} onChange=${()=>M(E)} />
            <label for=${`assist-c-${E.user_id}`}>${E.display_name||E.username}${E.display_name&&E.display_name!==E.username?` (${E.username})`:""}</label>
          </div>`)}
      </div>`}
    </fieldset>

    <div class="row">
      <button type="submit" class="primary" disabled=${b}>${s("assist.open")}</button>
    </div>
  </form>`}var Xt=t=>["offline","not_connected"].includes(t?.code);function pt({app:t,session:e,assistant:n,onAnnounce:i,onFinished:o}){let[r,c]=l("joining"),[u,f]=l(!1),[m,h]=l(!1),[p,d]=l(""),$=w(null),y=w(null),v=w(null),_=w(r),k=e.consultation_id,g=new Set([e.assistant_participant_id,e.patient_participant_id]),C=e.clinician.display_name,q=e.patient.full_name,[M,R]=l(()=>new Map),D=be(t,k,r==="admitted");function b(N){if(_.current===N||_.current==="ended")return;_.current=N,c(N);let z={waiting:"assist.now_waiting",admitted:"assist.now_admitted",denied:"assist.now_denied",ended:"assist.now_ended"}[N];z&&i(s(z,{clinician:C,patient:q}))}A(()=>$.current?.focus(),[]),A(()=>{u&&v.current?.focus()},[u]),T(()=>{let N=!1,z=async()=>{try{let O=await t.joinConsultation(k);N||b(O.state==="admitted"?"admitted":"waiting")}catch(O){if(N)return;O.code==="consultation_ended"?b("ended"):O.code==="not_admitted"?b("denied"):Xt(O)||d(S(O.code))}};t.connected&&z();let H=[t.on("connection",O=>O&&_.current!=="ended"&&_.current!=="denied"&&z()),t.on("consult",(O,G)=>{if(!(N||G?.consultation_id!==k))if(O==="consult.state"&&g.has(G.participant_id))b(G.state==="admitted"?"admitted":G.state==="denied"?"denied":_.current);else if(O==="consult.participants"){let Z=G.participants||[];R(new Map(Z.map(P=>[P.participant_id,P.display_name]))),Z.some(P=>P.participant_id===e.assistant_participant_id)&&b("admitted")}else O==="consult.ended"&&b("ended")})];return()=>{N=!0,H.forEach(O=>O())}},[k]);async function F(){h(!0),d("");try{await t.forgetRoom(e.chat_room_id),(_.current==="waiting"||_.current==="admitted"||_.current==="joining")&&await t.leaveConsultation(k).catch(N=>{if(!["consultation_ended","not_found","not_admitted"].includes(N?.code))throw N}),await t.leaveRoomIfMember(e.chat_room_id)}catch(N){h(!1),d(S(N.code));return}o()}let K={joining:s("assist.state_joining"),waiting:s("assist.state_waiting",{clinician:C}),admitted:s("assist.state_admitted",{clinician:C}),denied:s("assist.state_denied",{clinician:C}),ended:s("assist.state_ended",{clinician:C})},X=r==="denied"||r==="ended";return a`<section class="assist-session" aria-labelledby="assist-session-title">
    <h1 id="assist-session-title" tabindex="-1" ref=${$}>${s("assist.session_title")}</h1>
    <p class="acting-detail">${s("assist.acting",{patient:q,assistant:n})}</p>
    <p class=${`assist-phase ${r}`} data-phase=${r}>${K[r]}</p>
    ${p&&a`<p class="error" role="alert">${p}</p>`}
    <section id="assisted-call" class="assist-call" aria-label=${s("assist.call_region")} data-consultation=${k}>
      ${D?a`<${ye} leg=${D} patientName=${C} names=${M} />`:a`<p class="hint">${s("assist.call_later")}</p>`}
    </section>
    ${u?a`<div class="confirm" role="group" aria-labelledby="assist-end-question">
          <p id="assist-end-question">${X?s("assist.clear_confirm",{patient:q}):s("assist.end_confirm",{patient:q})}</p>
          <div class="row">
            <button type="button" class="danger" ref=${v} disabled=${m} onClick=${F}>${s("assist.end_yes")}</button>
            <button type="button" onClick=${()=>(f(!1),requestAnimationFrame(()=>y.current?.focus()))}>${s("common.cancel")}</button>
          </div>
        </div>`:a`<button type="button" class="danger" ref=${y} onClick=${()=>f(!0)}>${s("assist.end")}</button>`}
  </section>`}function ft({app:t,onSignOut:e,onForget:n,onLanguage:i}){let[o,r]=l(null),[c,u]=l(0),[f,m]=l(""),[h,p]=l(t.connected),d=w(!1),$=t.session.record,y=$.display_name||$.username;T(()=>t.on("connection",p),[t]);let[v,_]=l([]),k=()=>t.openAssistedSessions().then(_).catch(()=>{});T(()=>{if(!o)return t.connected&&k(),t.on("connection",R=>R&&k())},[t,o]);async function g(R){await t.leaveLeftover(R.consultation_id),m(s("assist.leftover_left")),await k()}A(()=>{document.title=`${s(o?"assist.session_title":"assist.start_title")} · ${s("app.name")}`},[o,c]);function C(R){m(s("assist.opened",{clinician:R.clinician.display_name})),r(R)}async function q(){if(d.current)return;d.current=!0;let R=o?.chat_room_id;r(null),u(D=>D+1),m(s("assist.cleared"));try{await t.forgetRoom(R)}finally{d.current=!1}}let M=o?.patient.full_name;return a`
    <a class="skip" href="#main" onClick=${R=>(R.preventDefault(),document.getElementById("main")?.focus())}>${s("app.skip")}</a>
    <header class="bar">
      <span class="brand">${s("app.name")}</span>
      <span class="status" role="status">${h?"":s("assist.offline")}</span>
      <span class="who">${s("workspace.signed_in_as",{name:y})}</span>
      <label class="lang">
        <span>${s("lang.label")}</span>
        <select value=${ue()} onChange=${R=>i(R.currentTarget.value)}>
          ${de.map(R=>a`<option value=${R}>${s(`lang.${R}`)}</option>`)}
        </select>
      </label>
      ${!o&&a`<button type="button" onClick=${e}>${s("workspace.sign_out")}</button>
        <button type="button" class="danger" onClick=${n}>${s("workspace.forget")}</button>`}
    </header>
    <p class="acting" data-testid="acting">
      ${M?s("assist.acting",{patient:M,assistant:y}):s("assist.acting_none",{assistant:y})}
    </p>
    <p class="assist-status" role="status">${f}</p>
    <main id="main" tabindex="-1" class="assist">
      ${o?a`<${pt} key=${o.consultation_id} app=${t} session=${o} assistant=${y} onAnnounce=${m} onFinished=${q} />`:a`<${mt} key=${`start-${c}`} app=${t} leftovers=${v} onLeaveLeftover=${g} onOpened=${C} />`}
    </main>
  `}function Zt({vault:t}){let[e,n]=l({phase:"loading",app:null,error:""}),[,i]=l(_e());async function o(p){let d=null;try{p.vault.locked&&(n({phase:"waiting",app:null}),await en(p)),d=await $e.open(p),d.on("ended",()=>r(d));let $=await d.deviceStatus();$==="ready"?(n({phase:"ready",app:d}),await d.connect()):n({phase:$,app:d})}catch($){if($?.code==="unauthorized"&&d)return r(d);n({phase:"signin",app:null,error:S($.code)})}}async function r(p){p._ended||(p._ended=!0,await p.close().catch(()=>{}),await p.session.endedElsewhere(),location.hash="",n({phase:"signin",app:null,error:s("signin.ended")}))}T(()=>{ce.resume(t).then(p=>p?o(p):n({phase:"signin"}))},[]),A(()=>{let p={signin:"signin.title",first_device:"setup.first_title",new_device:"setup.new_title"};document.title=p[e.phase]?`${s(p[e.phase])} · ${s("app.name")}`:s("app.name");let d=document.activeElement;(!d||d===document.body)&&document.getElementById("main")?.focus()},[e.phase]);async function c(p){await o(await ce.login(t,p))}async function u(){let p=e.app;n({phase:"ready",app:p}),await p.connect().catch(d=>d?.code==="unauthorized"&&r(p))}async function f(p){let d=e.app;if(d&&(d._ended=!0),p){let $=d.session.deviceId;await d.session.forgetDevice(e.phase==="ready"?()=>d.revokeDevice($):null),d.close().catch(()=>{}),location.replace(location.pathname);return}await d?.close(),await d.session.signOut(),location.hash="",n({phase:"signin",app:null})}function m(p){ke(p,!0),i(p)}if(e.phase==="waiting")return a`<main id="main" tabindex="-1"><p role="status">${s("app.waiting_server")}</p></main>`;if(e.phase==="loading")return a`<main id="main"><p role="status">${s("app.loading")}</p></main>`;if(e.phase==="signin")return a`<${He} onSignIn=${c} initialError=${e.error} />`;if(e.phase==="first_device"||e.phase==="new_device")return a`<${Qe} app=${e.app} status=${e.phase} onReady=${u} />`;let h=e.app.session.record.role==="assistant"?ft:dt;return a`<${h} app=${e.app} onSignOut=${()=>f(!1)} onForget=${()=>f(!0)} onLanguage=${m} />`}async function en(t){for(let e=1e3;;e=Math.min(e*2,15e3)){try{await t.unlock();return}catch(n){if(n.code==="unauthorized")throw n}await new Promise(n=>{let i=()=>(clearTimeout(o),removeEventListener("online",i),n()),o=setTimeout(i,e);addEventListener("online",i)})}}ke(_e());fe.open().then(t=>Ae(a`<${Zt} vault=${t} />`,document.getElementById("root")));
