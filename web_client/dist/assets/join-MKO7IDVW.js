import{a as oe,c as ie,d as re,e as ae,f as se}from"./chunk-4BH55WUJ.js";import{a as Q,b as m,c as j,d as A,e as y,g as u,i as Z,j as ee,l as t,m as N,q as te,s as ne}from"./chunk-5XRXPPWO.js";import"./chunk-WOT6VMZA.js";var B="relais.join.link",U="relais.join.guest";function ce(e){try{return sessionStorage.getItem(e)}catch{return null}}function D(e,n){try{n===null?sessionStorage.removeItem(e):sessionStorage.setItem(e,n)}catch{}}function le(){let e=location.pathname.match(/^\/consult\/([A-Za-z0-9_-]+)$/);return e&&(history.replaceState(null,"","/consult/"),Y()||D(B,e[1])),ce(B)}function Y(){try{let e=JSON.parse(ce(U)||"null");if(e&&e.token&&e.expires_at>Date.now())return e}catch{}return D(U,null),null}function z(e){D(U,JSON.stringify(e)),D(B,null)}function K(){try{for(let e of Object.keys(sessionStorage))e.startsWith("relais.join.")&&sessionStorage.removeItem(e)}catch{}}function xe(e){let n=ie(e.mode),a=re(e),s=a==="weak"?t(`call.why_weak_${n}`):a?t(`call.why_${a}`):"";return{family:n,why:s}}var ve={denied:"call.devices_denied",missing:"call.devices_missing",unsupported:"call.devices_unsupported",no_camera:"call.devices_no_camera",no_microphone:"call.devices_no_microphone"};function de({socket:e,guest:n,online:a,onLeave:s,onRefused:f,text:c}){let[i]=m(()=>new oe({call:(v,_,T)=>e.call(v,_,T),subscribe:v=>e.onAny(v)},n.consultation_id)),[b,$]=m(i.state),[d,g]=m(null),[r,l]=m({mic:!0,camera:!0,hasMic:!0,hasCamera:!0}),[o,w]=m(""),[p,x]=m(t("call.starting")),[k,E]=m(!1),[h,M]=m(!1),[S,q]=m(0),V=y(null),J=y(null),F=y(!0),O=y("");j(()=>{window.relaisCall=i;let v=[i.on("state",_=>{$(_),_==="connected"?x([t("call.connected"),O.current].filter(Boolean).join(" ")):_==="reconnecting"&&x(t("call.reconnecting"))}),i.on("devices",_=>{l({mic:i.micOn,camera:i.cameraOn,hasMic:_.audio,hasCamera:_.video}),_.problem&&(O.current=t(ve[_.problem]),w(O.current),x(O.current))}),i.on("local",_=>l(T=>({...T,mic:_.mic,camera:_.camera}))),i.on("mode",_=>{if(_.participant_id!==n.participant_id)return;let T=xe(_);g(T),(_.previous||T.family!=="video")&&x([t(`call.family_${T.family}`),T.why].filter(Boolean).join(". "))}),i.on("refused",f)];return i.start(),()=>{v.forEach(_=>_()),i.close(),window.relaisCall===i&&delete window.relaisCall}},[i]),j(()=>{F.current?F.current=!1:a?i.resume():x(t("join.reconnecting"))},[a]),A(()=>{k&&V.current?.focus()},[k]);let X=y(!1);X.current=h;let W=y(!1);j(()=>{d?.family==="text"&&M(!0)},[d?.family]),j(()=>{if(!c)return;let v=new Set,_=T=>{let P=T.filter(C=>!C.mine&&C.state==="decrypted"&&!v.has(C.id));if(v=new Set(T.filter(C=>C.state==="decrypted").map(C=>C.id)),!P.length||X.current)return;q(C=>C+P.length);let H=P[P.length-1];x(t("text.said",{name:c.nameOf(H.sender),body:H.body}))};return _(c.channel.texts()),c.channel.on("texts",_)},[c]),j(()=>{h&&q(0)},[h]);function _e(){let v=!r.mic;i.setMicrophone(v)&&x(t(v?"call.mic_on":"call.mic_off"))}function we(){let v=!r.camera;i.setCamera(v)&&x(t(v?"call.camera_on":"call.camera_off"))}async function $e(){await i.hangup(),s()}let R=d?.family||"connecting";return u`
    <main id="main" class="join call">
      <h1 tabindex="-1">${t("join.admitted_title")}</h1>
      <p class="status ok" role="status">${p}</p>
      <div class=${`mode mode-${R}`}>
        <p class="mode-now"><span>${t("call.mode_label")} </span><strong>${t(`call.family_${R}`)}</strong></p>
        ${d?.why&&u`<p class="mode-why">${d.why}</p>`}
      </div>
      ${o&&u`<p class="problem">${o}</p>`}
      <div class="stage">
        <${ae} leg=${i} name=${t("call.other_side")} label=${t("call.remote_video")} noPicture=${t("call.no_picture")} pictureOff=${R==="audio"||R==="text"} />
        <${se} leg=${i} />
      </div>
      ${k?u`<div class="confirm" role="group" aria-labelledby="leave-question">
            <p id="leave-question">${t("call.leave_confirm")}</p>
            <button type="button" class="danger" ref=${V} onClick=${$e}>${t("call.leave_yes")}</button>
            <button type="button" class="secondary" onClick=${()=>(E(!1),setTimeout(()=>J.current?.focus()))}>${t("call.leave_no")}</button>
          </div>`:u`<div class="controls" role="group" aria-label=${t("call.controls")}>
            <button type="button" class="toggle" aria-pressed=${r.mic?"false":"true"} disabled=${!r.hasMic} onClick=${_e}>${t("call.mic_mute")}</button>
            <button type="button" class="toggle" aria-pressed=${r.camera?"false":"true"} disabled=${!r.hasCamera} onClick=${we}>${t("call.camera_mute")}</button>
            <button type="button" class="toggle" aria-expanded=${h?"true":"false"} aria-controls="call-text" onClick=${()=>(W.current=!h,M(!h))}>
              ${t("text.open")}${S>0?u` <span class="badge">${t("text.unread",{count:S})}</span>`:""}
            </button>
            <button type="button" class="danger" ref=${J} onClick=${()=>E(!0)}>${t("call.leave")}</button>
          </div>`}
      <div id="call-text" hidden=${!h}>
        ${h&&(c?u`<${c.TextChannel} text=${c.channel} nameOf=${c.nameOf} focusOnOpen=${W.current} />`:u`<section class="text-channel"><h2>${t("text.title")}</h2><p>${t("text.preparing")}</p></section>`)}
      </div>
    </main>
  `}var ye=[48,100,170,400],ue=1500,ke=.4,G=500,je=.9,Se=200,Te=4e3,Ee=12,Ce=130*1.25,Ae=32*1.25,Me=.1,Le=.3;function Oe({kbps:e,loss:n,opened:a}){return a?e>=Ce&&n<Me?"video":e>=Ae&&n<Le?"audio":"text":"text"}var L=e=>new Promise(n=>setTimeout(n,e));function fe(e){if(!e.length)return null;let n=[...e].sort((a,s)=>a-s);return n[Math.floor(n.length/2)]}function me(e,n){let a=new ArrayBuffer(n),s=new DataView(a);return s.setUint32(0,e),s.setFloat64(4,performance.now()),a}async function pe(e,n){let a={consultation_id:n},s=await e.call("consult.link_probe_config",a),f=new RTCPeerConnection({iceServers:s.ice_servers||[]});try{let c=f.createDataChannel("probe",{ordered:!1,maxRetransmits:0});c.binaryType="arraybuffer",f.onicecandidate=d=>{let g=d.candidate&&d.candidate.candidate?d.candidate.toJSON():null;e.call("consult.link_probe_ice",{...a,candidate:g}).catch(()=>{})},await f.setLocalDescription(await f.createOffer());let i=await e.call("consult.link_probe",{...a,sdp:f.localDescription.sdp});await f.setRemoteDescription({type:"answer",sdp:i.sdp});let b=await new Promise(d=>{let g=setTimeout(()=>d(!1),1e4);c.onopen=()=>{clearTimeout(g),d(!0)}});if(!b)return{opened:b,loss:1,rtt_ms:null,kbps:0,verdict:"text"};let $=Math.min(G,s.max_datagram||G);return{opened:b,...await Re(c,$)}}finally{f.close()}}async function Re(e,n){let a=new Map,s=[];e.onmessage=r=>{if(!(r.data instanceof ArrayBuffer)||r.data.byteLength<Ee)return;let l=new DataView(r.data),o=performance.now(),w=l.getUint32(0),p=o-l.getFloat64(4);a.has(w)||p>1e3||(w<30&&s.push(p),a.set(w,[o,r.data.byteLength,p]))};for(let r=0;r<30&&e.readyState==="open";r++)e.send(me(r,100)),await L(40);await L(1e3);let f=0;for(let r=0;r<30;r++)a.has(r)&&f++;let c=1-f/30,i=30,b=0,$=Math.min(n,G);for(let r of ye){if(e.readyState!=="open")break;let l=[],o=$*8/r,w=performance.now(),p=0;for(;performance.now()-w<ue;){let S=Math.floor((performance.now()-w)/o)+1;for(;p<S;p++)l.push([i,performance.now()-w]),e.bufferedAmount<Te&&e.send(me(i,$)),i++;await L(5)}let x=l.length?l[l.length-1][0]:i;for(let S=0;S<1e3&&!a.has(x);S+=50)await L(50);await L(50);let k=l.filter(([,S])=>S>=ke*ue),E=(fe(s)||0)+Se,h=k.filter(([S])=>a.has(S)&&a.get(S)[2]<=E).length,M=k.length?h/k.length:0;if(M<je){b=Math.max(b,Math.round(r*M));break}b=r}let d=fe(s),g=Oe({kbps:b,loss:c,opened:!0});return{loss:c,rtt_ms:d,kbps:b,verdict:g}}function ge({socket:e,consultationId:n,onDone:a}){let[s,f]=m(null),[c,i]=m(!1),[b,$]=m(!1),d=y(!0);async function g(){if(!c){i(!0),$(!1);try{let o=await pe(e,n);window.relaisLinkCheck=o,d.current&&f(o)}catch{d.current&&$(!0)}finally{d.current&&i(!1),a?.()}}}j(()=>(d.current=!0,g(),()=>{d.current=!1}),[e,n]);let r=t("join.check_running");!c&&b?r=t("join.check_failed"):!c&&s&&(r=t(`join.check_${s.verdict}`));let l=s&&s.opened?t("join.check_figures",{kbps:Math.round(s.kbps),loss:Math.round(s.loss*100),rtt:s.rtt_ms==null?"?":Math.round(s.rtt_ms)}):"";return u`
    <section class="check" aria-labelledby="check-title">
      <h2 id="check-title">${t("join.check_title")}</h2>
      <p aria-live="polite" class=${s&&!c?`verdict ${s.verdict}`:"verdict"}>${r}</p>
      ${l&&!c&&u`<p class="figures">${l}</p>`}
      ${!c&&u`<button type="button" onClick=${g}>${t("join.check_again")}</button>`}
    </section>
  `}var he={loading:"join.loading_title",nolink:"join.nolink_title",invalid:"join.invalid_title",code:"join.code_title",consent:"join.consent_title",waiting:"join.waiting_title",admitted:"join.admitted_title",left:"call.left_title",denied:"join.denied_title",ended:"join.ended_title",error:"join.error_title"},Pe={nolink:"join.nolink_text",invalid:"join.invalid_text",denied:"join.denied_text",ended:"join.ended_text"};function De(){let[e,n]=m("loading"),[a,s]=m(null),[f,c]=m(""),[i]=m(()=>le());async function b(o){let w={token:i,device_name:t("join.device_name")};o&&(w.code=o);let p=await new te().post("/api/v1/consultations/redeem",w),x={token:p.token,user_id:p.user_id,device_id:p.device_id,consultation_id:p.consultation_id,participant_id:p.participant_id,expires_at:p.expires_at,joined:!1};z(x),s(x),n("consent")}function $(o){o.code==="invite_invalid"?(K(),n("invalid")):o.code==="invalid_credentials"&&o.details?.code_required?n("code"):(c(N(o.code)),n("error"))}async function d(){n("loading");let o=Y();o?(s(o),n(o.joined?"waiting":"consent")):i?await b(null).catch($):n("nolink")}j(()=>{d()},[]),A(()=>{document.title=`${t(he[e])} · ${t("app.name")}`,e!=="code"&&document.querySelector("main h1")?.focus()},[e]);function g(){let o={...a,joined:!0};z(o),s(o),n("waiting")}function r(o){K(),n(o)}let l;return e==="code"?l=u`<${Ie} redeem=${b} refused=${$} onBurned=${()=>r("invalid")} />`:e==="consent"?l=u`<${Ne} onJoin=${g} />`:e==="waiting"||e==="admitted"?l=u`<${Be} guest=${a} phase=${e} setPhase=${n} over=${r} />`:e==="left"?l=u`<${I} title=${t("call.left_title")} text=${t("call.left_text")}>
      <button type="button" onClick=${()=>n("waiting")}>${t("call.rejoin")}</button>
    <//>`:e==="error"?l=u`<${I} title=${t("join.error_title")} text=${f}>
      <button type="button" onClick=${d}>${t("join.retry")}</button>
    <//>`:e==="loading"?l=u`<${I} title=${t("join.loading_title")} text=${t("join.loading")} />`:l=u`<${I} title=${t(he[e])} text=${t(Pe[e])} />`,l}function I({title:e,text:n,children:a}){return u`
    <main id="main" class="join">
      <h1 tabindex="-1">${e}</h1>
      <p>${n}</p>
      ${a}
    </main>
  `}function Ie({redeem:e,refused:n,onBurned:a}){let[s,f]=m(""),[c,i]=m(""),[b,$]=m(!1),d=y(null),g=y(null);A(()=>g.current?.focus(),[]),A(()=>{c&&d.current?.focus()},[c]);async function r(l){if(l.preventDefault(),!b){if(!/^[0-9]{6}$/.test(s)){i(t("join.code_format"));return}$(!0),i("");try{await e(s)}catch(o){if($(!1),o.code==="invalid_credentials"){let w=o.details?.attempts_left??0;w<=0?a():i(t(w===1?"join.code_wrong_last":"join.code_wrong",{n:w}))}else o.code==="invite_invalid"?n(o):i(N(o.code))}}}return u`
    <main id="main" class="join">
      <h1 tabindex="-1">${t("join.code_title")}</h1>
      <p>${t("join.code_intro")}</p>
      <form onSubmit=${r} novalidate>
        ${c&&u`<p class="error" role="alert" tabindex="-1" ref=${d} id="join-code-error">${c}</p>`}
        <label for="join-code">${t("join.code_label")}</label>
        <input
          id="join-code"
          ref=${g}
          name="code"
          inputmode="numeric"
          autocomplete="one-time-code"
          maxlength="6"
          aria-describedby=${c?"join-code-error":void 0}
          value=${s}
          onInput=${l=>f(l.currentTarget.value.replace(/\D/g,"").slice(0,6))}
        />
        <button type="submit" disabled=${b} aria-busy=${b?"true":"false"}>
          ${b?t("join.code_busy"):t("join.code_submit")}
        </button>
      </form>
    </main>
  `}function Ne({onJoin:e}){return u`
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
  `}function Be({guest:e,phase:n,setPhase:a,over:s}){let[f,c]=m(!0),[i,b]=m(null),[$,d]=m(!1),[g,r]=m(!1),l=Ue(i,e,$&&(g||n==="admitted"),n==="admitted");j(()=>{let p=new ne(e.token);b(p);let x=e.consultation_id,k=!1,E=h=>{k||(k=!0,l.closeAll(!0),p.close(),s(h))};return p.on("connect",async()=>{c(!0);try{let h=await p.call("consult.join",{consultation_id:x});k||(a(h.state==="admitted"?"admitted":"waiting"),d(!0))}catch(h){h.code==="not_admitted"?E("denied"):(h.code==="consultation_ended"||h.code==="not_found")&&E("ended")}}),p.on("disconnect",()=>c(!1)),p.on("connect_error",h=>h?.data?.error&&E("ended")),p.on("consult.state",h=>{h?.consultation_id!==x||k||(h.state==="admitted"?a("admitted"):h.state==="denied"&&E("denied"))}),p.on("consult.ended",h=>h?.consultation_id===x&&E("ended")),()=>{k=!0,l.closeAll(!1),p.close()}},[e.token]);let o=n==="admitted";if(o&&i)return u`<${de} socket=${i} guest=${e} online=${f} text=${l.ready} onLeave=${()=>a("left")} onRefused=${()=>a("waiting")} />`;let w=o?t("join.admitted_status"):t("join.waiting_status");return f||(w=t("join.reconnecting")),u`
    <main id="main" class="join">
      <h1 tabindex="-1">${o?t("join.admitted_title"):t("join.waiting_title")}</h1>
      <p class=${o?"status ok":"status"} role="status">${w}</p>
      <p>${o?t("join.admitted_next"):t("join.waiting_keep_open")}</p>
      ${!o&&$&&i&&u`<${ge} socket=${i} consultationId=${e.consultation_id} onDone=${()=>r(!0)} />`}
    </main>
  `}var be=5e3;function Ue(e,n,a,s){let f=y(null),[c,i]=m(null),[b,$]=m(null),d=y(!1);return j(()=>{if(!e||!a||f.current||!n.user_id)return;let g=null,r=async()=>{try{let l=await import("./text-WOWMFORP.js"),o=await l.prepareText(e,n);if(d.current){o.close(!1);return}f.current=o,i({mod:l,made:o})}catch{d.current||(g=setTimeout(r,be))}};return f.current="loading",r(),()=>{g&&(f.current=null),clearTimeout(g)}},[e,a]),j(()=>{if(!c||!s||b)return;let g=null,r=!1,l=async()=>{try{let o=await c.made.open(),w=p=>o.names.get(p)||t("call.other_side");r||$({TextChannel:c.mod.TextChannel,channel:o,nameOf:w})}catch{r||(g=setTimeout(l,be))}};return l(),()=>{r=!0,clearTimeout(g)}},[c,s]),{ready:b,closeAll(g){d.current=!0;let r=f.current;f.current=null,r&&r!=="loading"&&r.close(g)}}}ee(Z());Q(u`<${De} />`,document.getElementById("root"));
