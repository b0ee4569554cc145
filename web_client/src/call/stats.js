// A summary of a peer connection's getStats(): packets, bytes and frames per kind and direction,
// and the audio energy heard. Enough to tell "media flows" from "connected but silent", which
// is what the browser tests assert and what a screen may show; the server measures the link
// itself (consult.quality), so nothing here is sent anywhere.

function empty() {
  return { packetsReceived: 0, bytesReceived: 0, framesDecoded: 0, totalAudioEnergy: 0, packetsSent: 0, bytesSent: 0, framesEncoded: 0 };
}

/** @param {RTCPeerConnection|null} pc */
export async function readStats(pc) {
  const out = { connectionState: pc ? pc.connectionState : "none", audio: empty(), video: empty() };
  if (!pc) return out;
  const report = await pc.getStats();
  report.forEach((s) => {
    const k = out[s.kind];
    if (!k) return;
    if (s.type === "inbound-rtp") {
      k.packetsReceived += s.packetsReceived || 0;
      k.bytesReceived += s.bytesReceived || 0;
      k.framesDecoded += s.framesDecoded || 0;
      k.totalAudioEnergy += s.totalAudioEnergy || 0;
    } else if (s.type === "outbound-rtp") {
      k.packetsSent += s.packetsSent || 0;
      k.bytesSent += s.bytesSent || 0;
      k.framesEncoded += s.framesEncoded || 0;
    }
  });
  return out;
}
