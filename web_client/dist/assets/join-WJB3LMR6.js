import{a as Y,b as g,c as j,d as E,e as k,g as u,i as z,j as G,l as t,m as I,q,s as V,t as J,v as F,w as X,x as W,y as H}from"./chunk-W26GYNCZ.js";import"./chunk-WOT6VMZA.js";var R="relais.join.link",P="relais.join.guest";function Q(e){try{return sessionStorage.getItem(e)}catch{return null}}function C(e,o){try{o===null?sessionStorage.removeItem(e):sessionStorage.setItem(e,o)}catch{}}function Z(){let e=location.pathname.match(/^\/consult\/([A-Za-z0-9_-]+)$/);return e&&(history.replaceState(null,"","/consult/"),N()||C(R,e[1])),Q(R)}function N(){try{let e=JSON.parse(Q(P)||"null");if(e&&e.token&&e.expires_at>Date.now())return e}catch{}return C(P,null),null}function B(e){C(P,JSON.stringify(e)),C(R,null)}function K(){C(P,null),C(R,null)}function de(e){let o=F(e.mode),n=X(e),l=n==="weak"?t(`call.why_weak_${o}`):n?t(`call.why_${n}`):"";return{family:o,why:l}}var ue={denied:"call.devices_denied",missing:"call.devices_missing",unsupported:"call.devices_unsupported",no_camera:"call.devices_no_camera",no_microphone:"call.devices_no_microphone"};function ee({socket:e,guest:o,online:n,onLeave:l,onRefused:d}){let[i]=g(()=>new J({call:(y,w,x)=>e.call(y,w,x),subscribe:y=>e.onAny(y)},o.consultation_id)),[b,m]=g(i.state),[h,$]=g(null),[c,s]=g({mic:!0,camera:!0,hasMic:!0,hasCamera:!0}),[r,a]=g(""),[_,f]=g(t("call.starting")),[p,S]=g(!1),M=k(null),L=k(null),T=k(!0),v=k("");j(()=>{window.relaisCall=i;let y=[i.on("state",w=>{m(w),w==="connected"?f([t("call.connected"),v.current].filter(Boolean).join(" ")):w==="reconnecting"&&f(t("call.reconnecting"))}),i.on("devices",w=>{s({mic:i.micOn,camera:i.cameraOn,hasMic:w.audio,hasCamera:w.video}),w.problem&&(v.current=t(ue[w.problem]),a(v.current),f(v.current))}),i.on("local",w=>s(x=>({...x,mic:w.mic,camera:w.camera}))),i.on("mode",w=>{if(w.participant_id!==o.participant_id)return;let x=de(w);$(x),(w.previous||x.family!=="video")&&f([t(`call.family_${x.family}`),x.why].filter(Boolean).join(". "))}),i.on("refused",d)];return i.start(),()=>{y.forEach(w=>w()),i.close(),window.relaisCall===i&&delete window.relaisCall}},[i]),j(()=>{T.current?T.current=!1:n?i.resume():f(t("join.reconnecting"))},[n]),E(()=>{p&&M.current?.focus()},[p]);function se(){let y=!c.mic;i.setMicrophone(y)&&f(t(y?"call.mic_on":"call.mic_off"))}function ce(){let y=!c.camera;i.setCamera(y)&&f(t(y?"call.camera_on":"call.camera_off"))}async function le(){await i.hangup(),l()}let O=h?.family||"connecting";return u`
    <main id="main" class="join call">
      <h1 tabindex="-1">${t("join.admitted_title")}</h1>
      <p class="status ok" role="status">${_}</p>
      <div class=${`mode mode-${O}`}>
        <p class="mode-now"><span>${t("call.mode_label")} </span><strong>${t(`call.family_${O}`)}</strong></p>
        ${h?.why&&u`<p class="mode-why">${h.why}</p>`}
      </div>
      ${r&&u`<p class="problem">${r}</p>`}
      <div class="stage">
        <${W} leg=${i} name=${t("call.other_side")} label=${t("call.remote_video")} noPicture=${t("call.no_picture")} pictureOff=${O==="audio"||O==="text"} />
        <${H} leg=${i} />
      </div>
      ${p?u`<div class="confirm" role="group" aria-labelledby="leave-question">
            <p id="leave-question">${t("call.leave_confirm")}</p>
            <button type="button" class="danger" ref=${M} onClick=${le}>${t("call.leave_yes")}</button>
            <button type="button" class="secondary" onClick=${()=>(S(!1),setTimeout(()=>L.current?.focus()))}>${t("call.leave_no")}</button>
          </div>`:u`<div class="controls" role="group" aria-label=${t("call.controls")}>
            <button type="button" class="toggle" aria-pressed=${c.mic?"false":"true"} disabled=${!c.hasMic} onClick=${se}>${t("call.mic_mute")}</button>
            <button type="button" class="toggle" aria-pressed=${c.camera?"false":"true"} disabled=${!c.hasCamera} onClick=${ce}>${t("call.camera_mute")}</button>
            <button type="button" class="danger" ref=${L} onClick=${()=>S(!0)}>${t("call.leave")}</button>
          </div>`}
    </main>
  `}var fe=[48,100,170,400],te=1500,me=.4,U=500,pe=.9,ge=200,be=4e3,he=12,_e=130*1.25,$e=32*1.25,we=.1,ve=.3;function ye({kbps:e,loss:o,opened:n}){return n?e>=_e&&o<we?"video":e>=$e&&o<ve?"audio":"text":"text"}var A=e=>new Promise(o=>setTimeout(o,e));function ne(e){if(!e.length)return null;let o=[...e].sort((n,l)=>n-l);return o[Math.floor(o.length/2)]}function oe(e,o){let n=new ArrayBuffer(o),l=new DataView(n);return l.setUint32(0,e),l.setFloat64(4,performance.now()),n}async function ie(e,o){let n={consultation_id:o},l=await e.call("consult.link_probe_config",n),d=new RTCPeerConnection({iceServers:l.ice_servers||[]});try{let i=d.createDataChannel("probe",{ordered:!1,maxRetransmits:0});i.binaryType="arraybuffer",d.onicecandidate=$=>{let c=$.candidate&&$.candidate.candidate?$.candidate.toJSON():null;e.call("consult.link_probe_ice",{...n,candidate:c}).catch(()=>{})},await d.setLocalDescription(await d.createOffer());let b=await e.call("consult.link_probe",{...n,sdp:d.localDescription.sdp});await d.setRemoteDescription({type:"answer",sdp:b.sdp});let m=await new Promise($=>{let c=setTimeout(()=>$(!1),1e4);i.onopen=()=>{clearTimeout(c),$(!0)}});if(!m)return{opened:m,loss:1,rtt_ms:null,kbps:0,verdict:"text"};let h=Math.min(U,l.max_datagram||U);return{opened:m,...await ke(i,h)}}finally{d.close()}}async function ke(e,o){let n=new Map,l=[];e.onmessage=s=>{if(!(s.data instanceof ArrayBuffer)||s.data.byteLength<he)return;let r=new DataView(s.data),a=performance.now(),_=r.getUint32(0),f=a-r.getFloat64(4);n.has(_)||f>1e3||(_<30&&l.push(f),n.set(_,[a,s.data.byteLength,f]))};for(let s=0;s<30&&e.readyState==="open";s++)e.send(oe(s,100)),await A(40);await A(1e3);let d=0;for(let s=0;s<30;s++)n.has(s)&&d++;let i=1-d/30,b=30,m=0,h=Math.min(o,U);for(let s of fe){if(e.readyState!=="open")break;let r=[],a=h*8/s,_=performance.now(),f=0;for(;performance.now()-_<te;){let v=Math.floor((performance.now()-_)/a)+1;for(;f<v;f++)r.push([b,performance.now()-_]),e.bufferedAmount<be&&e.send(oe(b,h)),b++;await A(5)}let p=r.length?r[r.length-1][0]:b;for(let v=0;v<1e3&&!n.has(p);v+=50)await A(50);await A(50);let S=r.filter(([,v])=>v>=me*te),M=(ne(l)||0)+ge,L=S.filter(([v])=>n.has(v)&&n.get(v)[2]<=M).length,T=S.length?L/S.length:0;if(T<pe){m=Math.max(m,Math.round(s*T));break}m=s}let $=ne(l),c=ye({kbps:m,loss:i,opened:!0});return{loss:i,rtt_ms:$,kbps:m,verdict:c}}function re({socket:e,consultationId:o}){let[n,l]=g(null),[d,i]=g(!1),[b,m]=g(!1),h=k(!0);async function $(){if(!d){i(!0),m(!1);try{let r=await ie(e,o);window.relaisLinkCheck=r,h.current&&l(r)}catch{h.current&&m(!0)}finally{h.current&&i(!1)}}}j(()=>(h.current=!0,$(),()=>{h.current=!1}),[e,o]);let c=t("join.check_running");!d&&b?c=t("join.check_failed"):!d&&n&&(c=t(`join.check_${n.verdict}`));let s=n&&n.opened?t("join.check_figures",{kbps:Math.round(n.kbps),loss:Math.round(n.loss*100),rtt:n.rtt_ms==null?"?":Math.round(n.rtt_ms)}):"";return u`
    <section class="check" aria-labelledby="check-title">
      <h2 id="check-title">${t("join.check_title")}</h2>
      <p aria-live="polite" class=${n&&!d?`verdict ${n.verdict}`:"verdict"}>${c}</p>
      ${s&&!d&&u`<p class="figures">${s}</p>`}
      ${!d&&u`<button type="button" onClick=${$}>${t("join.check_again")}</button>`}
    </section>
  `}var ae={loading:"join.loading_title",nolink:"join.nolink_title",invalid:"join.invalid_title",code:"join.code_title",consent:"join.consent_title",waiting:"join.waiting_title",admitted:"join.admitted_title",left:"call.left_title",denied:"join.denied_title",ended:"join.ended_title",error:"join.error_title"},xe={nolink:"join.nolink_text",invalid:"join.invalid_text",denied:"join.denied_text",ended:"join.ended_text"};function je(){let[e,o]=g("loading"),[n,l]=g(null),[d,i]=g(""),[b]=g(()=>Z());async function m(a){let _={token:b,device_name:t("join.device_name")};a&&(_.code=a);let f=await new q().post("/api/v1/consultations/redeem",_),p={token:f.token,consultation_id:f.consultation_id,participant_id:f.participant_id,expires_at:f.expires_at,joined:!1};B(p),l(p),o("consent")}function h(a){a.code==="invite_invalid"?(K(),o("invalid")):a.code==="invalid_credentials"&&a.details?.code_required?o("code"):(i(I(a.code)),o("error"))}async function $(){o("loading");let a=N();a?(l(a),o(a.joined?"waiting":"consent")):b?await m(null).catch(h):o("nolink")}j(()=>{$()},[]),E(()=>{document.title=`${t(ae[e])} · ${t("app.name")}`,e!=="code"&&document.querySelector("main h1")?.focus()},[e]);function c(){let a={...n,joined:!0};B(a),l(a),o("waiting")}function s(a){K(),o(a)}let r;return e==="code"?r=u`<${Se} redeem=${m} refused=${h} onBurned=${()=>s("invalid")} />`:e==="consent"?r=u`<${Ee} onJoin=${c} />`:e==="waiting"||e==="admitted"?r=u`<${Ce} guest=${n} phase=${e} setPhase=${o} over=${s} />`:e==="left"?r=u`<${D} title=${t("call.left_title")} text=${t("call.left_text")}>
      <button type="button" onClick=${()=>o("waiting")}>${t("call.rejoin")}</button>
    <//>`:e==="error"?r=u`<${D} title=${t("join.error_title")} text=${d}>
      <button type="button" onClick=${$}>${t("join.retry")}</button>
    <//>`:e==="loading"?r=u`<${D} title=${t("join.loading_title")} text=${t("join.loading")} />`:r=u`<${D} title=${t(ae[e])} text=${t(xe[e])} />`,r}function D({title:e,text:o,children:n}){return u`
    <main id="main" class="join">
      <h1 tabindex="-1">${e}</h1>
      <p>${o}</p>
      ${n}
    </main>
  `}function Se({redeem:e,refused:o,onBurned:n}){let[l,d]=g(""),[i,b]=g(""),[m,h]=g(!1),$=k(null),c=k(null);E(()=>c.current?.focus(),[]),E(()=>{i&&$.current?.focus()},[i]);async function s(r){if(r.preventDefault(),!m){if(!/^[0-9]{6}$/.test(l)){b(t("join.code_format"));return}h(!0),b("");try{await e(l)}catch(a){if(h(!1),a.code==="invalid_credentials"){let _=a.details?.attempts_left??0;_<=0?n():b(t(_===1?"join.code_wrong_last":"join.code_wrong",{n:_}))}else a.code==="invite_invalid"?o(a):b(I(a.code))}}}return u`
    <main id="main" class="join">
      <h1 tabindex="-1">${t("join.code_title")}</h1>
      <p>${t("join.code_intro")}</p>
      <form onSubmit=${s} novalidate>
        ${i&&u`<p class="error" role="alert" tabindex="-1" ref=${$} id="join-code-error">${i}</p>`}
        <label for="join-code">${t("join.code_label")}</label>
        <input
          id="join-code"
          ref=${c}
          name="code"
          inputmode="numeric"
          autocomplete="one-time-code"
          maxlength="6"
          aria-describedby=${i?"join-code-error":void 0}
          value=${l}
          onInput=${r=>d(r.currentTarget.value.replace(/\D/g,"").slice(0,6))}
        />
        <button type="submit" disabled=${m} aria-busy=${m?"true":"false"}>
          ${m?t("join.code_busy"):t("join.code_submit")}
        </button>
      </form>
    </main>
  `}function Ee({onJoin:e}){return u`
    <main id="main" class="join">
      <h1 tabindex="-1">${t("join.consent_title")}</h1>
      <p>${t("join.consent_intro")}</p>
      <p>${t("join.consent_what")}</p>
      <button type="button" onClick=${e}>${t("join.consent_submit")}</button>
      <details>
        <summary>${t("join.data_title")}</summary>
        <p>${t("join.data_text")}</p>
      </details>
    </main>
  `}function Ce({guest:e,phase:o,setPhase:n,over:l}){let[d,i]=g(!0),[b,m]=g(null),[h,$]=g(!1);j(()=>{let r=new V(e.token);m(r);let a=e.consultation_id,_=!1,f=p=>{_||(_=!0,r.close(),l(p))};return r.on("connect",async()=>{i(!0);try{let p=await r.call("consult.join",{consultation_id:a});_||(n(p.state==="admitted"?"admitted":"waiting"),$(!0))}catch(p){p.code==="not_admitted"?f("denied"):(p.code==="consultation_ended"||p.code==="not_found")&&f("ended")}}),r.on("disconnect",()=>i(!1)),r.on("connect_error",p=>p?.data?.error&&f("ended")),r.on("consult.state",p=>{p?.consultation_id!==a||_||(p.state==="admitted"?n("admitted"):p.state==="denied"&&f("denied"))}),r.on("consult.ended",p=>p?.consultation_id===a&&f("ended")),()=>{_=!0,r.close()}},[e.token]);let c=o==="admitted";if(c&&b)return u`<${ee} socket=${b} guest=${e} online=${d} onLeave=${()=>n("left")} onRefused=${()=>n("waiting")} />`;let s=c?t("join.admitted_status"):t("join.waiting_status");return d||(s=t("join.reconnecting")),u`
    <main id="main" class="join">
      <h1 tabindex="-1">${c?t("join.admitted_title"):t("join.waiting_title")}</h1>
      <p class=${c?"status ok":"status"} role="status">${s}</p>
      <p>${c?t("join.admitted_next"):t("join.waiting_keep_open")}</p>
      ${!c&&h&&b&&u`<${re} socket=${b} consultationId=${e.consultation_id} />`}
    </main>
  `}G(z());Y(u`<${je} />`,document.getElementById("root"));
