import{b as re,c as ae,d as Y,e as se,f as ce,g as le}from"./chunk-GGMGEVRR.js";import{a as te,b as g,c as S,d as L,e as $,g as l,i as ne,j as oe,l as t,m as N,q as U,s as ie}from"./chunk-ZJUT6LVE.js";import"./chunk-WOT6VMZA.js";var K="relais.join.link",F="relais.join.guest";function de(e){try{return sessionStorage.getItem(e)}catch{return null}}function z(e,n){try{n===null?sessionStorage.removeItem(e):sessionStorage.setItem(e,n)}catch{}}function ue(){let e=location.pathname.match(/^\/consult\/([A-Za-z0-9_-]+)$/);return e&&(history.replaceState(null,"","/consult/"),G()||z(K,e[1])),de(K)}function G(){try{let e=JSON.parse(de(F)||"null");if(e&&e.token&&e.expires_at>Date.now())return e}catch{}return z(F,null),null}function q(e){z(F,JSON.stringify(e)),z(K,null)}function O(){try{for(let e of Object.keys(sessionStorage))e.startsWith("relais.join.")&&sessionStorage.removeItem(e)}catch{}}function je(e){let n=re(e.mode),o=ae(e),a=o==="weak"?t(`call.why_weak_${n}`):o?t(`call.why_${o}`):"";return{family:n,why:a}}var Se={denied:"call.devices_denied",busy:"call.devices_busy",missing:"call.devices_missing",unsupported:"call.devices_unsupported",no_camera:"call.devices_no_camera",no_microphone:"call.devices_no_microphone"};function fe({socket:e,guest:n,online:o,onLeave:a,onRefused:u,text:c,openDevices:m}){let[i]=g(()=>new se({call:(E,v,A)=>e.call(E,v,A),subscribe:E=>e.onAny(E)},n.consultation_id,{openDevices:m})),[_,p]=g(i.state),[b,d]=g(null),[s,r]=g({mic:!0,camera:!0,hasMic:!0,hasCamera:!0}),[f,h]=g(""),[T,j]=g(t("call.starting")),[y,C]=g(!1),[w,x]=g(!1),[k,W]=g(0),H=$(null),J=$(null),X=$(!0),P=$("");S(()=>{window.relaisCall=i;let E=[i.on("state",v=>{p(v),v==="connected"?j([t("call.connected"),P.current].filter(Boolean).join(" ")):v==="reconnecting"&&j(t("call.reconnecting"))}),i.on("devices",v=>{r({mic:i.micOn,camera:i.cameraOn,hasMic:v.audio,hasCamera:v.video}),v.problem&&(P.current=t(Se[v.problem]),h(P.current),j(P.current))}),i.on("local",v=>r(A=>({...A,mic:v.mic,camera:v.camera}))),i.on("mode",v=>{if(v.participant_id!==n.participant_id)return;let A=je(v);d(A),(v.previous||A.family!=="video")&&j([t(`call.family_${A.family}`),A.why].filter(Boolean).join(". "))}),i.on("refused",u)];return i.start(),()=>{E.forEach(v=>v()),i.close(),window.relaisCall===i&&delete window.relaisCall}},[i]),S(()=>{X.current?X.current=!1:o?i.resume():j(t("join.reconnecting"))},[o]),L(()=>{y&&H.current?.focus()},[y]);let Q=$(!1);Q.current=w;let Z=$(!1);S(()=>{b?.family==="text"&&x(!0)},[b?.family]),S(()=>{if(!c)return;let E=new Set,v=A=>{let I=A.filter(M=>!M.mine&&M.state==="decrypted"&&!E.has(M.id));if(E=new Set(A.filter(M=>M.state==="decrypted").map(M=>M.id)),!I.length||Q.current)return;W(M=>M+I.length);let ee=I[I.length-1];j(t("text.said",{name:c.nameOf(ee.sender),body:ee.body}))};return v(c.channel.texts()),c.channel.on("texts",v)},[c]),S(()=>{w&&W(0)},[w]);function ye(){let E=!s.mic;i.setMicrophone(E)&&j(t(E?"call.mic_on":"call.mic_off"))}function xe(){let E=!s.camera;i.setCamera(E)&&j(t(E?"call.camera_on":"call.camera_off"))}async function ke(){await i.hangup(),a()}let D=b?.family||"connecting";return l`
    <main id="main" class="join call">
      <h1 tabindex="-1">${t("join.admitted_title")}</h1>
      <p class="status ok" role="status">${T}</p>
      <div class=${`mode mode-${D}`}>
        <p class="mode-now"><span>${t("call.mode_label")} </span><strong>${t(`call.family_${D}`)}</strong></p>
        ${b?.why&&l`<p class="mode-why">${b.why}</p>`}
      </div>
      ${f&&l`<p class="problem">${f}</p>`}
      <div class="stage">
        <${ce} leg=${i} name=${t("call.other_side")} label=${t("call.remote_video")} noPicture=${t("call.no_picture")} pictureOff=${D==="audio"||D==="text"} />
        <${le} leg=${i} />
      </div>
      ${y?l`<div class="confirm" role="group" aria-labelledby="leave-question">
            <p id="leave-question">${t("call.leave_confirm")}</p>
            <button type="button" class="danger" ref=${H} onClick=${ke}>${t("call.leave_yes")}</button>
            <button type="button" class="secondary" onClick=${()=>(C(!1),setTimeout(()=>J.current?.focus()))}>${t("call.leave_no")}</button>
          </div>`:l`<div class="controls" role="group" aria-label=${t("call.controls")}>
            <button type="button" class="toggle" aria-pressed=${s.mic?"false":"true"} disabled=${!s.hasMic} onClick=${ye}>${t("call.mic_mute")}</button>
            <button type="button" class="toggle" aria-pressed=${s.camera?"false":"true"} disabled=${!s.hasCamera} onClick=${xe}>${t("call.camera_mute")}</button>
            <button type="button" class="toggle" aria-expanded=${w?"true":"false"} aria-controls="call-text" onClick=${()=>(Z.current=!w,x(!w))}>
              ${t("text.open")}${k>0?l` <span class="badge">${t("text.unread",{count:k})}</span>`:""}
            </button>
            <button type="button" class="danger" ref=${J} onClick=${()=>C(!0)}>${t("call.leave")}</button>
          </div>`}
      <div id="call-text" hidden=${!w}>
        ${w&&(c?l`<${c.TextChannel} text=${c.channel} nameOf=${c.nameOf} focusOnOpen=${Z.current} />`:l`<section class="text-channel"><h2>${t("text.title")}</h2><p>${t("text.preparing")}</p></section>`)}
      </div>
    </main>
  `}var Te=[48,100,170,400],me=1500,Ee=.4,V=500,Ce=.9,Ae=200,Me=4e3,Le=12,Oe=130*1.25,Re=24*1.25,Pe=.1,De=.3;function Ie({kbps:e,loss:n,opened:o}){return o?e>=Oe&&n<Pe?"video":e>=Re&&n<De?"audio":"text":"text"}var R=e=>new Promise(n=>setTimeout(n,e));function pe(e){if(!e.length)return null;let n=[...e].sort((o,a)=>o-a);return n[Math.floor(n.length/2)]}function he(e,n){let o=new ArrayBuffer(n),a=new DataView(o);return a.setUint32(0,e),a.setFloat64(4,performance.now()),o}async function ge(e,n){let o={consultation_id:n},a=await e.call("consult.link_probe_config",o),u=new RTCPeerConnection({iceServers:a.ice_servers||[]});try{let c=u.createDataChannel("probe",{ordered:!1,maxRetransmits:0});c.binaryType="arraybuffer",u.onicecandidate=p=>{let b=p.candidate&&p.candidate.candidate?p.candidate.toJSON():null;e.call("consult.link_probe_ice",{...o,candidate:b}).catch(()=>{})},await u.setLocalDescription(await u.createOffer());let m=await e.call("consult.link_probe",{...o,sdp:u.localDescription.sdp});await u.setRemoteDescription({type:"answer",sdp:m.sdp});let i=await new Promise(p=>{let b=setTimeout(()=>p(!1),1e4);c.onopen=()=>{clearTimeout(b),p(!0)}});if(!i)return{opened:i,loss:1,rtt_ms:null,kbps:0,verdict:"text"};let _=Math.min(V,a.max_datagram||V);return{opened:i,...await Ne(c,_)}}finally{u.close()}}async function Ne(e,n){let o=new Map,a=[];e.onmessage=d=>{if(!(d.data instanceof ArrayBuffer)||d.data.byteLength<Le)return;let s=new DataView(d.data),r=performance.now(),f=s.getUint32(0),h=r-s.getFloat64(4);o.has(f)||h>1e3||(f<30&&a.push(h),o.set(f,[r,d.data.byteLength,h]))};for(let d=0;d<30&&e.readyState==="open";d++)e.send(he(d,100)),await R(40);await R(1e3);let u=0;for(let d=0;d<30;d++)o.has(d)&&u++;let c=1-u/30,m=30,i=0,_=Math.min(n,V);for(let d of Te){if(e.readyState!=="open")break;let s=[],r=_*8/d,f=performance.now(),h=0;for(;performance.now()-f<me;){let x=Math.floor((performance.now()-f)/r)+1;for(;h<x;h++)s.push([m,performance.now()-f]),e.bufferedAmount<Me&&e.send(he(m,_)),m++;await R(5)}let T=s.length?s[s.length-1][0]:m;for(let x=0;x<1e3&&!o.has(T);x+=50)await R(50);await R(50);let j=s.filter(([,x])=>x>=Ee*me),y=(pe(a)||0)+Ae,C=j.filter(([x])=>o.has(x)&&o.get(x)[2]<=y).length,w=j.length?C/j.length:0;if(w<Ce){i=Math.max(i,Math.round(d*w));break}i=d}let p=pe(a),b=Ie({kbps:i,loss:c,opened:!0});return{loss:c,rtt_ms:p,kbps:i,verdict:b}}function be({socket:e,consultationId:n,onDone:o}){let[a,u]=g(null),[c,m]=g(!1),[i,_]=g(!1),p=$(!0);async function b(){if(!c){m(!0),_(!1);try{let r=await ge(e,n);window.relaisLinkCheck=r,p.current&&u(r)}catch{p.current&&_(!0)}finally{p.current&&m(!1),o?.()}}}S(()=>(p.current=!0,b(),()=>{p.current=!1}),[e,n]);let d=t("join.check_running");!c&&i?d=t("join.check_failed"):!c&&a&&(d=t(`join.check_${a.verdict}`));let s=a&&a.opened?t("join.check_figures",{kbps:Math.round(a.kbps),loss:Math.round(a.loss*100),rtt:a.rtt_ms==null?"?":Math.round(a.rtt_ms)}):"";return l`
    <section class="check" aria-labelledby="check-title">
      <h2 id="check-title">${t("join.check_title")}</h2>
      <p aria-live="polite" class=${a&&!c?`verdict ${a.verdict}`:"verdict"}>${d}</p>
      ${s&&!c&&l`<p class="figures">${s}</p>`}
      ${!c&&l`<button type="button" onClick=${b}>${t("join.check_again")}</button>`}
    </section>
  `}var ze=.02,Be=150;function Ue(e){return/Firefox\/|FxiOS\//.test(e)?"firefox":/SamsungBrowser\//.test(e)?"samsung":/iPhone|iPad|iPod/.test(e)?"safari_ios":/Safari\//.test(e)&&!/Chrome\/|Chromium\/|Edg\//.test(e)?"safari":"chromium"}function _e(){return{devices:null,async take(){let e=this.devices;return this.devices=null,e?.stream?.getTracks().some(o=>o.readyState==="live")&&e?e:Y()},release(){for(let e of this.devices?.stream?.getTracks()||[])e.stop();this.devices=null}}}function ve({held:e}){let[n,o]=g(null),[a,u]=g(!0),[c,m]=g(!1),i=$(null),_=$(null),p=$(!0);async function b(){u(!0),e.release();let r=await Y();if(!p.current){for(let f of r.stream?.getTracks()||[])f.stop();return}e.devices=r,o(r),u(!1)}S(()=>(p.current=!0,b(),()=>{p.current=!1}),[]),S(()=>{let r=n?.stream;if(!r||(i.current&&n.video&&(i.current.srcObject=r,i.current.play().catch(()=>{})),!n.audio||typeof AudioContext>"u"))return;let f=new AudioContext,h=f.createAnalyser();h.fftSize=1024,f.createMediaStreamSource(r).connect(h),f.resume().catch(()=>{});let T=new Float32Array(h.fftSize),j=setInterval(()=>{h.getFloatTimeDomainData(T);let y=0;for(let w of T)y+=w*w;let C=Math.sqrt(y/T.length);_.current&&(_.current.style.width=`${Math.min(100,Math.round(C*400))}%`),C>=ze&&m(!0)},Be);return()=>{clearInterval(j),f.close().catch(()=>{})}},[n]);let d;a?d=l`<p>${t("join.devices_asking")}</p>`:n?.problem&&n.problem!=="no_camera"&&n.problem!=="no_microphone"&&!n.stream?d=l`<${Ye} problem=${n.problem} />`:d=l`
      ${n?.video?l`<p>${t("join.devices_camera_ok")}</p>`:l`<p class="device-problem">${t("join.devices_no_camera")}</p>`}
      ${n?.audio?l`<p aria-live="polite">${c?t("join.devices_heard"):t("join.devices_speak")}</p>`:l`<p class="device-problem">${t("join.devices_no_microphone")}</p>`}
    `;let s=!a&&!!n?.problem;return l`
    <section class="devices" aria-labelledby="devices-title">
      <h2 id="devices-title">${t("join.devices_title")}</h2>
      ${n?.video&&l`<video ref=${i} class="preview" muted autoplay playsinline aria-label=${t("join.devices_preview")}></video>`}
      ${n?.audio&&l`<div class="level" role="img" aria-label=${c?t("join.devices_heard"):t("join.devices_level")}>
        <div class="level-bar" ref=${_}></div>
      </div>`}
      ${d}
      ${s&&l`<p>${t("join.devices_anyway")}</p>`}
      ${s&&l`<button type="button" class="secondary" onClick=${b}>${t("join.devices_again")}</button>`}
    </section>
  `}function Ye({problem:e}){let n=Ue(typeof navigator<"u"?navigator.userAgent:"");return l`
    <div class="device-problem">
      <p>${t(`join.devices_${e}`)}</p>
      ${e==="denied"&&l`<p>${t(`join.devices_allow_${n}`)}</p>`}
    </div>
  `}var Ke="join-v1",we={loading:"join.loading_title",nolink:"join.nolink_title",invalid:"join.invalid_title",code:"join.code_title",consent:"join.consent_title",waiting:"join.waiting_title",admitted:"join.admitted_title",left:"call.left_title",denied:"join.denied_title",ended:"join.ended_title",error:"join.error_title"},Fe={nolink:"join.nolink_text",invalid:"join.invalid_text",denied:"join.denied_text",ended:"join.ended_text"};function Ge(){let[e,n]=g("loading"),[o,a]=g(null),[u,c]=g(""),[m]=g(()=>ue());async function i(r){let f={token:m,device_name:t("join.device_name")};r&&(f.code=r);let h=await new U().post("/api/v1/consultations/redeem",f),T={token:h.token,user_id:h.user_id,device_id:h.device_id,consultation_id:h.consultation_id,participant_id:h.participant_id,expires_at:h.expires_at,joined:!1};q(T),a(T),n("consent")}function _(r){r.code==="invite_invalid"?(O(),n("invalid")):r.code==="invalid_credentials"&&r.details?.code_required?n("code"):(c(N(r.code)),n("error"))}async function p(){n("loading");let r=G();r?(a(r),n(r.joined?"waiting":"consent")):m?await i(null).catch(_):n("nolink")}S(()=>{p()},[]),L(()=>{document.title=`${t(we[e])} · ${t("app.name")}`,e!=="code"&&document.querySelector("main h1")?.focus()},[e]);async function b(){let r=new U;r.token=o.token;try{await r.post(`/api/v1/consultations/${encodeURIComponent(o.consultation_id)}/consent`,{text_version:Ke})}catch(h){if(h.code==="consultation_ended"||h.code==="not_found"||h.code==="unauthorized"){d("ended");return}throw h}let f={...o,joined:!0};q(f),a(f),n("waiting")}function d(r){O(),n(r)}let s;return e==="code"?s=l`<${qe} redeem=${i} refused=${_} onBurned=${()=>d("invalid")} />`:e==="consent"?s=l`<${Ve} onJoin=${b} />`:e==="waiting"||e==="admitted"?s=l`<${We} guest=${o} phase=${e} setPhase=${n} over=${d} />`:e==="left"?s=l`<${B} title=${t("call.left_title")} text=${t("call.left_text")}>
      <button type="button" onClick=${()=>n("waiting")}>${t("call.rejoin")}</button>
    <//>`:e==="error"?s=l`<${B} title=${t("join.error_title")} text=${u}>
      <button type="button" onClick=${p}>${t("join.retry")}</button>
    <//>`:e==="loading"?s=l`<${B} title=${t("join.loading_title")} text=${t("join.loading")} />`:s=l`<${B} title=${t(we[e])} text=${t(Fe[e])} />`,s}function B({title:e,text:n,children:o}){return l`
    <main id="main" class="join">
      <h1 tabindex="-1">${e}</h1>
      <p>${n}</p>
      ${o}
    </main>
  `}function qe({redeem:e,refused:n,onBurned:o}){let[a,u]=g(""),[c,m]=g(""),[i,_]=g(!1),p=$(null),b=$(null);L(()=>b.current?.focus(),[]),L(()=>{c&&p.current?.focus()},[c]);async function d(s){if(s.preventDefault(),!i){if(!/^[0-9]{6}$/.test(a)){m(t("join.code_format"));return}_(!0),m("");try{await e(a)}catch(r){if(_(!1),r.code==="invalid_credentials"){let f=r.details?.attempts_left??0;f<=0?o():m(t(f===1?"join.code_wrong_last":"join.code_wrong",{n:f}))}else r.code==="invite_invalid"?n(r):m(N(r.code))}}}return l`
    <main id="main" class="join">
      <h1 tabindex="-1">${t("join.code_title")}</h1>
      <p>${t("join.code_intro")}</p>
      <form onSubmit=${d} novalidate>
        ${c&&l`<p class="error" role="alert" tabindex="-1" ref=${p} id="join-code-error">${c}</p>`}
        <label for="join-code">${t("join.code_label")}</label>
        <input
          id="join-code"
          ref=${b}
          name="code"
          inputmode="numeric"
          autocomplete="one-time-code"
          maxlength="6"
          aria-describedby=${c?"join-code-error":void 0}
          value=${a}
          onInput=${s=>u(s.currentTarget.value.replace(/\D/g,"").slice(0,6))}
        />
        <button type="submit" disabled=${i} aria-busy=${i?"true":"false"}>
          ${i?t("join.code_busy"):t("join.code_submit")}
        </button>
      </form>
    </main>
  `}function Ve({onJoin:e}){let[n,o]=g(!1),[a,u]=g(""),c=$(null);L(()=>{a&&c.current?.focus()},[a]);async function m(){if(!n){o(!0),u("");try{await e()}catch(i){o(!1),u(N(i.code))}}}return l`
    <main id="main" class="join">
      <h1 tabindex="-1">${t("join.consent_title")}</h1>
      <p>${t("join.consent_intro")}</p>
      <p>${t("join.consent_what")}</p>
      ${a&&l`<p class="error" role="alert" tabindex="-1" ref=${c}>${a}</p>`}
      <button type="button" disabled=${n} aria-busy=${n?"true":"false"} onClick=${m}>${t("join.consent_submit")}</button>
      <details>
        <summary>${t("join.data_title")}</summary>
        <p>${t("join.data_text")}</p>
      </details>
    </main>
  `}function We({guest:e,phase:n,setPhase:o,over:a}){let[u,c]=g(!0),[m,i]=g(null),[_,p]=g(!1),[b,d]=g(!1),s=Ze(m,e,_&&(b||n==="admitted"),n==="admitted"),[r]=g(_e),f=Je(m,e.consultation_id,_&&n==="waiting"&&u);S(()=>{let y=new ie(e.token);i(y);let C=e.consultation_id,w=!1,x=k=>{w||(w=!0,s.closeAll(!0),r.release(),y.close(),a(k))};return y.on("connect",async()=>{c(!0);try{let k=await y.call("consult.join",{consultation_id:C});w||(o(k.state==="admitted"?"admitted":"waiting"),p(!0))}catch(k){k.code==="not_admitted"?x("denied"):(k.code==="consultation_ended"||k.code==="not_found")&&x("ended")}}),y.on("disconnect",()=>c(!1)),y.on("connect_error",k=>k?.data?.error&&x("ended")),y.on("consult.state",k=>{k?.consultation_id!==C||w||(k.state==="admitted"?o("admitted"):k.state==="denied"&&x("denied"))}),y.on("consult.ended",k=>k?.consultation_id===C&&x("ended")),()=>{w=!0,s.closeAll(!1),r.release(),y.close()}},[e.token]);let h=n==="admitted";if(h&&m)return l`<${fe} socket=${m} guest=${e} online=${u} text=${s.ready} openDevices=${()=>r.take()} onLeave=${()=>o("left")} onRefused=${()=>o("waiting")} />`;let T=h?t("join.admitted_status"):Xe(f);u||(T=t("join.reconnecting"));let j=!h&&u?Qe(f):"";return l`
    <main id="main" class="join">
      <h1 tabindex="-1">${h?t("join.admitted_title"):t("join.waiting_title")}</h1>
      <p class=${h?"status ok":"status"} role="status">${T}</p>
      ${j&&l`<p class="estimate">${j}</p>`}
      <p>${h?t("join.admitted_next"):t("join.waiting_keep_open")}</p>
      ${!h&&_&&l`<${ve} held=${r} />`}
      ${!h&&_&&m&&l`<${be} socket=${m} consultationId=${e.consultation_id} onDone=${()=>d(!0)} />`}
    </main>
  `}var $e=5e3,He=3e4;function Je(e,n,o){let[a,u]=g(null);return S(()=>{if(!e||!o)return;let c=!1,m=async()=>{try{let p=await e.call("consult.wait",{consultation_id:n});c||u(p)}catch{}};m();let i=setInterval(m,He),_=e.on("consult.wait_changed",p=>p?.consultation_id===n&&m());return()=>{c=!0,clearInterval(i),_()}},[e,o]),a}function Xe(e){return e?e.host_busy?t("join.waiting_busy"):e.host_present?t("join.waiting_soon"):t("join.waiting_not_yet"):t("join.waiting_not_yet")}function Qe(e){if(!e||!e.estimate_s)return"";let n=e.ahead===1?t("join.waiting_ahead_one"):e.ahead>1?t("join.waiting_ahead",{n:e.ahead}):"",o=Math.max(1,Math.ceil(e.estimate_s/60)),a=o===1?t("join.waiting_estimate_one"):t("join.waiting_estimate",{m:o});return[n,a].filter(Boolean).join(" ")}function Ze(e,n,o,a){let u=$(null),[c,m]=g(null),[i,_]=g(null),p=$(!1),b=$(!1);return S(()=>{if(!e||!o||u.current||!n.user_id)return;let d=null,s=async()=>{try{let r=await import("./text-XZQR7D5V.js"),f=await r.prepareText(e,n,()=>!b.current);if(p.current){await f.close(b.current),b.current&&O();return}u.current=f,m({mod:r,made:f})}catch{p.current?b.current&&O():d=setTimeout(s,$e)}};return u.current="loading",s(),()=>{d&&(u.current=null),clearTimeout(d)}},[e,o]),S(()=>{if(!c||!a||i)return;let d=null,s=!1,r=async()=>{try{let f=await c.made.open(),h=T=>f.names.get(T)||t("call.other_side");s||_({TextChannel:c.mod.TextChannel,channel:f,nameOf:h})}catch{s||(d=setTimeout(r,$e))}};return r(),()=>{s=!0,clearTimeout(d)}},[c,a]),{ready:i,closeAll(d){p.current=!0,b.current=b.current||d;let s=u.current;u.current=null,s&&s!=="loading"&&s.close(d)}}}oe(ne());te(l`<${Ge} />`,document.getElementById("root"));
