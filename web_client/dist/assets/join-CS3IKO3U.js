import{b as oe,c as ie,d as re,e as ae,f as se}from"./chunk-5K5J3ZBG.js";import{a as Z,b as m,c as j,d as A,e as v,g as p,i as ee,j as te,l as t,m as D,q as B,s as ne}from"./chunk-PQBUM6H7.js";import"./chunk-WOT6VMZA.js";var U="relais.join.link",z="relais.join.guest";function ce(e){try{return sessionStorage.getItem(e)}catch{return null}}function I(e,n){try{n===null?sessionStorage.removeItem(e):sessionStorage.setItem(e,n)}catch{}}function le(){let e=location.pathname.match(/^\/consult\/([A-Za-z0-9_-]+)$/);return e&&(history.replaceState(null,"","/consult/"),Y()||I(U,e[1])),ce(U)}function Y(){try{let e=JSON.parse(ce(z)||"null");if(e&&e.token&&e.expires_at>Date.now())return e}catch{}return I(z,null),null}function K(e){I(z,JSON.stringify(e)),I(U,null)}function G(){try{for(let e of Object.keys(sessionStorage))e.startsWith("relais.join.")&&sessionStorage.removeItem(e)}catch{}}function xe(e){let n=oe(e.mode),r=ie(e),s=r==="weak"?t(`call.why_weak_${n}`):r?t(`call.why_${r}`):"";return{family:n,why:s}}var ve={denied:"call.devices_denied",missing:"call.devices_missing",unsupported:"call.devices_unsupported",no_camera:"call.devices_no_camera",no_microphone:"call.devices_no_microphone"};function de({socket:e,guest:n,online:r,onLeave:s,onRefused:f,text:c}){let[o]=m(()=>new re({call:(y,$,T)=>e.call(y,$,T),subscribe:y=>e.onAny(y)},n.consultation_id)),[g,w]=m(o.state),[d,h]=m(null),[a,l]=m({mic:!0,camera:!0,hasMic:!0,hasCamera:!0}),[i,_]=m(""),[u,x]=m(t("call.starting")),[k,E]=m(!1),[b,M]=m(!1),[S,V]=m(0),J=v(null),F=v(null),X=v(!0),O=v("");j(()=>{window.relaisCall=o;let y=[o.on("state",$=>{w($),$==="connected"?x([t("call.connected"),O.current].filter(Boolean).join(" ")):$==="reconnecting"&&x(t("call.reconnecting"))}),o.on("devices",$=>{l({mic:o.micOn,camera:o.cameraOn,hasMic:$.audio,hasCamera:$.video}),$.problem&&(O.current=t(ve[$.problem]),_(O.current),x(O.current))}),o.on("local",$=>l(T=>({...T,mic:$.mic,camera:$.camera}))),o.on("mode",$=>{if($.participant_id!==n.participant_id)return;let T=xe($);h(T),($.previous||T.family!=="video")&&x([t(`call.family_${T.family}`),T.why].filter(Boolean).join(". "))}),o.on("refused",f)];return o.start(),()=>{y.forEach($=>$()),o.close(),window.relaisCall===o&&delete window.relaisCall}},[o]),j(()=>{X.current?X.current=!1:r?o.resume():x(t("join.reconnecting"))},[r]),A(()=>{k&&J.current?.focus()},[k]);let W=v(!1);W.current=b;let H=v(!1);j(()=>{d?.family==="text"&&M(!0)},[d?.family]),j(()=>{if(!c)return;let y=new Set,$=T=>{let P=T.filter(C=>!C.mine&&C.state==="decrypted"&&!y.has(C.id));if(y=new Set(T.filter(C=>C.state==="decrypted").map(C=>C.id)),!P.length||W.current)return;V(C=>C+P.length);let Q=P[P.length-1];x(t("text.said",{name:c.nameOf(Q.sender),body:Q.body}))};return $(c.channel.texts()),c.channel.on("texts",$)},[c]),j(()=>{b&&V(0)},[b]);function _e(){let y=!a.mic;o.setMicrophone(y)&&x(t(y?"call.mic_on":"call.mic_off"))}function $e(){let y=!a.camera;o.setCamera(y)&&x(t(y?"call.camera_on":"call.camera_off"))}async function we(){await o.hangup(),s()}let R=d?.family||"connecting";return p`
    <main id="main" class="join call">
      <h1 tabindex="-1">${t("join.admitted_title")}</h1>
      <p class="status ok" role="status">${u}</p>
      <div class=${`mode mode-${R}`}>
        <p class="mode-now"><span>${t("call.mode_label")} </span><strong>${t(`call.family_${R}`)}</strong></p>
        ${d?.why&&p`<p class="mode-why">${d.why}</p>`}
      </div>
      ${i&&p`<p class="problem">${i}</p>`}
      <div class="stage">
        <${ae} leg=${o} name=${t("call.other_side")} label=${t("call.remote_video")} noPicture=${t("call.no_picture")} pictureOff=${R==="audio"||R==="text"} />
        <${se} leg=${o} />
      </div>
      ${k?p`<div class="confirm" role="group" aria-labelledby="leave-question">
            <p id="leave-question">${t("call.leave_confirm")}</p>
            <button type="button" class="danger" ref=${J} onClick=${we}>${t("call.leave_yes")}</button>
            <button type="button" class="secondary" onClick=${()=>(E(!1),setTimeout(()=>F.current?.focus()))}>${t("call.leave_no")}</button>
          </div>`:p`<div class="controls" role="group" aria-label=${t("call.controls")}>
            <button type="button" class="toggle" aria-pressed=${a.mic?"false":"true"} disabled=${!a.hasMic} onClick=${_e}>${t("call.mic_mute")}</button>
            <button type="button" class="toggle" aria-pressed=${a.camera?"false":"true"} disabled=${!a.hasCamera} onClick=${$e}>${t("call.camera_mute")}</button>
            <button type="button" class="toggle" aria-expanded=${b?"true":"false"} aria-controls="call-text" onClick=${()=>(H.current=!b,M(!b))}>
              ${t("text.open")}${S>0?p` <span class="badge">${t("text.unread",{count:S})}</span>`:""}
            </button>
            <button type="button" class="danger" ref=${F} onClick=${()=>E(!0)}>${t("call.leave")}</button>
          </div>`}
      <div id="call-text" hidden=${!b}>
        ${b&&(c?p`<${c.TextChannel} text=${c.channel} nameOf=${c.nameOf} focusOnOpen=${H.current} />`:p`<section class="text-channel"><h2>${t("text.title")}</h2><p>${t("text.preparing")}</p></section>`)}
      </div>
    </main>
  `}var ye=[48,100,170,400],ue=1500,ke=.4,q=500,je=.9,Se=200,Te=4e3,Ee=12,Ce=130*1.25,Ae=32*1.25,Me=.1,Le=.3;function Oe({kbps:e,loss:n,opened:r}){return r?e>=Ce&&n<Me?"video":e>=Ae&&n<Le?"audio":"text":"text"}var L=e=>new Promise(n=>setTimeout(n,e));function fe(e){if(!e.length)return null;let n=[...e].sort((r,s)=>r-s);return n[Math.floor(n.length/2)]}function me(e,n){let r=new ArrayBuffer(n),s=new DataView(r);return s.setUint32(0,e),s.setFloat64(4,performance.now()),r}async function pe(e,n){let r={consultation_id:n},s=await e.call("consult.link_probe_config",r),f=new RTCPeerConnection({iceServers:s.ice_servers||[]});try{let c=f.createDataChannel("probe",{ordered:!1,maxRetransmits:0});c.binaryType="arraybuffer",f.onicecandidate=d=>{let h=d.candidate&&d.candidate.candidate?d.candidate.toJSON():null;e.call("consult.link_probe_ice",{...r,candidate:h}).catch(()=>{})},await f.setLocalDescription(await f.createOffer());let o=await e.call("consult.link_probe",{...r,sdp:f.localDescription.sdp});await f.setRemoteDescription({type:"answer",sdp:o.sdp});let g=await new Promise(d=>{let h=setTimeout(()=>d(!1),1e4);c.onopen=()=>{clearTimeout(h),d(!0)}});if(!g)return{opened:g,loss:1,rtt_ms:null,kbps:0,verdict:"text"};let w=Math.min(q,s.max_datagram||q);return{opened:g,...await Re(c,w)}}finally{f.close()}}async function Re(e,n){let r=new Map,s=[];e.onmessage=a=>{if(!(a.data instanceof ArrayBuffer)||a.data.byteLength<Ee)return;let l=new DataView(a.data),i=performance.now(),_=l.getUint32(0),u=i-l.getFloat64(4);r.has(_)||u>1e3||(_<30&&s.push(u),r.set(_,[i,a.data.byteLength,u]))};for(let a=0;a<30&&e.readyState==="open";a++)e.send(me(a,100)),await L(40);await L(1e3);let f=0;for(let a=0;a<30;a++)r.has(a)&&f++;let c=1-f/30,o=30,g=0,w=Math.min(n,q);for(let a of ye){if(e.readyState!=="open")break;let l=[],i=w*8/a,_=performance.now(),u=0;for(;performance.now()-_<ue;){let S=Math.floor((performance.now()-_)/i)+1;for(;u<S;u++)l.push([o,performance.now()-_]),e.bufferedAmount<Te&&e.send(me(o,w)),o++;await L(5)}let x=l.length?l[l.length-1][0]:o;for(let S=0;S<1e3&&!r.has(x);S+=50)await L(50);await L(50);let k=l.filter(([,S])=>S>=ke*ue),E=(fe(s)||0)+Se,b=k.filter(([S])=>r.has(S)&&r.get(S)[2]<=E).length,M=k.length?b/k.length:0;if(M<je){g=Math.max(g,Math.round(a*M));break}g=a}let d=fe(s),h=Oe({kbps:g,loss:c,opened:!0});return{loss:c,rtt_ms:d,kbps:g,verdict:h}}function ge({socket:e,consultationId:n,onDone:r}){let[s,f]=m(null),[c,o]=m(!1),[g,w]=m(!1),d=v(!0);async function h(){if(!c){o(!0),w(!1);try{let i=await pe(e,n);window.relaisLinkCheck=i,d.current&&f(i)}catch{d.current&&w(!0)}finally{d.current&&o(!1),r?.()}}}j(()=>(d.current=!0,h(),()=>{d.current=!1}),[e,n]);let a=t("join.check_running");!c&&g?a=t("join.check_failed"):!c&&s&&(a=t(`join.check_${s.verdict}`));let l=s&&s.opened?t("join.check_figures",{kbps:Math.round(s.kbps),loss:Math.round(s.loss*100),rtt:s.rtt_ms==null?"?":Math.round(s.rtt_ms)}):"";return p`
    <section class="check" aria-labelledby="check-title">
      <h2 id="check-title">${t("join.check_title")}</h2>
      <p aria-live="polite" class=${s&&!c?`verdict ${s.verdict}`:"verdict"}>${a}</p>
      ${l&&!c&&p`<p class="figures">${l}</p>`}
      ${!c&&p`<button type="button" onClick=${h}>${t("join.check_again")}</button>`}
    </section>
  `}var Pe="join-v1",he={loading:"join.loading_title",nolink:"join.nolink_title",invalid:"join.invalid_title",code:"join.code_title",consent:"join.consent_title",waiting:"join.waiting_title",admitted:"join.admitted_title",left:"call.left_title",denied:"join.denied_title",ended:"join.ended_title",error:"join.error_title"},De={nolink:"join.nolink_text",invalid:"join.invalid_text",denied:"join.denied_text",ended:"join.ended_text"};function Ie(){let[e,n]=m("loading"),[r,s]=m(null),[f,c]=m(""),[o]=m(()=>le());async function g(i){let _={token:o,device_name:t("join.device_name")};i&&(_.code=i);let u=await new B().post("/api/v1/consultations/redeem",_),x={token:u.token,user_id:u.user_id,device_id:u.device_id,consultation_id:u.consultation_id,participant_id:u.participant_id,expires_at:u.expires_at,joined:!1};K(x),s(x),n("consent")}function w(i){i.code==="invite_invalid"?(G(),n("invalid")):i.code==="invalid_credentials"&&i.details?.code_required?n("code"):(c(D(i.code)),n("error"))}async function d(){n("loading");let i=Y();i?(s(i),n(i.joined?"waiting":"consent")):o?await g(null).catch(w):n("nolink")}j(()=>{d()},[]),A(()=>{document.title=`${t(he[e])} · ${t("app.name")}`,e!=="code"&&document.querySelector("main h1")?.focus()},[e]);async function h(){let i=new B;i.token=r.token;try{await i.post(`/api/v1/consultations/${encodeURIComponent(r.consultation_id)}/consent`,{text_version:Pe})}catch(u){if(u.code==="consultation_ended"||u.code==="not_found"||u.code==="unauthorized"){a("ended");return}throw u}let _={...r,joined:!0};K(_),s(_),n("waiting")}function a(i){G(),n(i)}let l;return e==="code"?l=p`<${Ne} redeem=${g} refused=${w} onBurned=${()=>a("invalid")} />`:e==="consent"?l=p`<${Be} onJoin=${h} />`:e==="waiting"||e==="admitted"?l=p`<${Ue} guest=${r} phase=${e} setPhase=${n} over=${a} />`:e==="left"?l=p`<${N} title=${t("call.left_title")} text=${t("call.left_text")}>
      <button type="button" onClick=${()=>n("waiting")}>${t("call.rejoin")}</button>
    <//>`:e==="error"?l=p`<${N} title=${t("join.error_title")} text=${f}>
      <button type="button" onClick=${d}>${t("join.retry")}</button>
    <//>`:e==="loading"?l=p`<${N} title=${t("join.loading_title")} text=${t("join.loading")} />`:l=p`<${N} title=${t(he[e])} text=${t(De[e])} />`,l}function N({title:e,text:n,children:r}){return p`
    <main id="main" class="join">
      <h1 tabindex="-1">${e}</h1>
      <p>${n}</p>
      ${r}
    </main>
  `}function Ne({redeem:e,refused:n,onBurned:r}){let[s,f]=m(""),[c,o]=m(""),[g,w]=m(!1),d=v(null),h=v(null);A(()=>h.current?.focus(),[]),A(()=>{c&&d.current?.focus()},[c]);async function a(l){if(l.preventDefault(),!g){if(!/^[0-9]{6}$/.test(s)){o(t("join.code_format"));return}w(!0),o("");try{await e(s)}catch(i){if(w(!1),i.code==="invalid_credentials"){let _=i.details?.attempts_left??0;_<=0?r():o(t(_===1?"join.code_wrong_last":"join.code_wrong",{n:_}))}else i.code==="invite_invalid"?n(i):o(D(i.code))}}}return p`
    <main id="main" class="join">
      <h1 tabindex="-1">${t("join.code_title")}</h1>
      <p>${t("join.code_intro")}</p>
      <form onSubmit=${a} novalidate>
        ${c&&p`<p class="error" role="alert" tabindex="-1" ref=${d} id="join-code-error">${c}</p>`}
        <label for="join-code">${t("join.code_label")}</label>
        <input
          id="join-code"
          ref=${h}
          name="code"
          inputmode="numeric"
          autocomplete="one-time-code"
          maxlength="6"
          aria-describedby=${c?"join-code-error":void 0}
          value=${s}
          onInput=${l=>f(l.currentTarget.value.replace(/\D/g,"").slice(0,6))}
        />
        <button type="submit" disabled=${g} aria-busy=${g?"true":"false"}>
          ${g?t("join.code_busy"):t("join.code_submit")}
        </button>
      </form>
    </main>
  `}function Be({onJoin:e}){let[n,r]=m(!1),[s,f]=m(""),c=v(null);A(()=>{s&&c.current?.focus()},[s]);async function o(){if(!n){r(!0),f("");try{await e()}catch(g){r(!1),f(D(g.code))}}}return p`
    <main id="main" class="join">
      <h1 tabindex="-1">${t("join.consent_title")}</h1>
      <p>${t("join.consent_intro")}</p>
      <p>${t("join.consent_what")}</p>
      ${s&&p`<p class="error" role="alert" tabindex="-1" ref=${c}>${s}</p>`}
      <button type="button" disabled=${n} aria-busy=${n?"true":"false"} onClick=${o}>${t("join.consent_submit")}</button>
      <details>
        <summary>${t("join.data_title")}</summary>
        <p>${t("join.data_text")}</p>
      </details>
    </main>
  `}function Ue({guest:e,phase:n,setPhase:r,over:s}){let[f,c]=m(!0),[o,g]=m(null),[w,d]=m(!1),[h,a]=m(!1),l=ze(o,e,w&&(h||n==="admitted"),n==="admitted");j(()=>{let u=new ne(e.token);g(u);let x=e.consultation_id,k=!1,E=b=>{k||(k=!0,l.closeAll(!0),u.close(),s(b))};return u.on("connect",async()=>{c(!0);try{let b=await u.call("consult.join",{consultation_id:x});k||(r(b.state==="admitted"?"admitted":"waiting"),d(!0))}catch(b){b.code==="not_admitted"?E("denied"):(b.code==="consultation_ended"||b.code==="not_found")&&E("ended")}}),u.on("disconnect",()=>c(!1)),u.on("connect_error",b=>b?.data?.error&&E("ended")),u.on("consult.state",b=>{b?.consultation_id!==x||k||(b.state==="admitted"?r("admitted"):b.state==="denied"&&E("denied"))}),u.on("consult.ended",b=>b?.consultation_id===x&&E("ended")),()=>{k=!0,l.closeAll(!1),u.close()}},[e.token]);let i=n==="admitted";if(i&&o)return p`<${de} socket=${o} guest=${e} online=${f} text=${l.ready} onLeave=${()=>r("left")} onRefused=${()=>r("waiting")} />`;let _=i?t("join.admitted_status"):t("join.waiting_status");return f||(_=t("join.reconnecting")),p`
    <main id="main" class="join">
      <h1 tabindex="-1">${i?t("join.admitted_title"):t("join.waiting_title")}</h1>
      <p class=${i?"status ok":"status"} role="status">${_}</p>
      <p>${i?t("join.admitted_next"):t("join.waiting_keep_open")}</p>
      ${!i&&w&&o&&p`<${ge} socket=${o} consultationId=${e.consultation_id} onDone=${()=>a(!0)} />`}
    </main>
  `}var be=5e3;function ze(e,n,r,s){let f=v(null),[c,o]=m(null),[g,w]=m(null),d=v(!1);return j(()=>{if(!e||!r||f.current||!n.user_id)return;let h=null,a=async()=>{try{let l=await import("./text-HVILUVBX.js"),i=await l.prepareText(e,n);if(d.current){i.close(!1);return}f.current=i,o({mod:l,made:i})}catch{d.current||(h=setTimeout(a,be))}};return f.current="loading",a(),()=>{h&&(f.current=null),clearTimeout(h)}},[e,r]),j(()=>{if(!c||!s||g)return;let h=null,a=!1,l=async()=>{try{let i=await c.made.open(),_=u=>i.names.get(u)||t("call.other_side");a||w({TextChannel:c.mod.TextChannel,channel:i,nameOf:_})}catch{a||(h=setTimeout(l,be))}};return l(),()=>{a=!0,clearTimeout(h)}},[c,s]),{ready:g,closeAll(h){d.current=!0;let a=f.current;f.current=null,a&&a!=="loading"&&a.close(h)}}}te(ee());Z(p`<${Ie} />`,document.getElementById("root"));
