import sharp from 'sharp';

/**
 * The sample pet the style picker's previews are made from: a drawn cat
 * (fur gradients, stripes, eyes, whiskers) on a transparent background, so
 * every style shows on the same subject and no customer photo is needed.
 */
const SAMPLE_SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="512" height="512" viewBox="0 0 512 512">
  <defs>
    <radialGradient id="fur" cx="45%" cy="40%" r="65%">
      <stop offset="0" stop-color="#f6c27a"/><stop offset="0.55" stop-color="#d98c3a"/><stop offset="1" stop-color="#7a4516"/>
    </radialGradient>
    <radialGradient id="belly" cx="50%" cy="30%" r="60%">
      <stop offset="0" stop-color="#fff6e8"/><stop offset="1" stop-color="#e8cfae"/>
    </radialGradient>
    <radialGradient id="eye" cx="40%" cy="35%" r="60%">
      <stop offset="0" stop-color="#d7f08a"/><stop offset="1" stop-color="#4d7a1e"/>
    </radialGradient>
  </defs>
  <ellipse cx="256" cy="390" rx="150" ry="105" fill="url(#fur)"/>
  <ellipse cx="256" cy="410" rx="80" ry="70" fill="url(#belly)"/>
  <path d="M380 420 C 470 400, 480 300, 430 270 C 420 300, 440 360, 370 385 Z" fill="#b86d26"/>
  <path d="M130 140 L 160 40 L 215 120 Z" fill="#c97c30"/><path d="M382 140 L 352 40 L 297 120 Z" fill="#c97c30"/>
  <path d="M150 130 L 165 70 L 200 120 Z" fill="#f2a7a0"/><path d="M362 130 L 347 70 L 312 120 Z" fill="#f2a7a0"/>
  <ellipse cx="256" cy="215" rx="135" ry="120" fill="url(#fur)"/>
  <g stroke="#6b3a12" stroke-width="9" stroke-linecap="round" fill="none" opacity="0.7">
    <path d="M256 100 L 256 140"/><path d="M226 105 L 232 140"/><path d="M286 105 L 280 140"/>
    <path d="M125 220 L 160 225"/><path d="M387 220 L 352 225"/><path d="M130 250 L 165 248"/><path d="M382 250 L 347 248"/>
    <path d="M150 340 C 170 360, 170 380, 160 400"/><path d="M362 340 C 342 360, 342 380, 352 400"/>
  </g>
  <ellipse cx="256" cy="265" rx="62" ry="45" fill="url(#belly)"/>
  <ellipse cx="205" cy="205" rx="26" ry="30" fill="url(#eye)"/><ellipse cx="307" cy="205" rx="26" ry="30" fill="url(#eye)"/>
  <ellipse cx="205" cy="208" rx="8" ry="22" fill="#111"/><ellipse cx="307" cy="208" rx="8" ry="22" fill="#111"/>
  <circle cx="212" cy="196" r="5" fill="#fff"/><circle cx="314" cy="196" r="5" fill="#fff"/>
  <path d="M243 250 L 269 250 L 256 264 Z" fill="#d46a74"/>
  <path d="M256 264 C 250 280, 236 282, 228 276 M256 264 C 262 280, 276 282, 284 276" stroke="#5a2d10" stroke-width="4" fill="none" stroke-linecap="round"/>
  <g stroke="#fffaf0" stroke-width="2.5" stroke-linecap="round">
    <path d="M215 262 L 120 245"/><path d="M215 270 L 118 275"/><path d="M297 262 L 392 245"/><path d="M297 270 L 394 275"/>
  </g>
</svg>`;

let cached: Promise<Buffer> | undefined;

/**
 * A photo to try the service with (`petcut demo-photo`): the sample cat on a
 * lit wall and floor, 1024x768 JPEG: a subject, a background, a shadow.
 */
export async function demoPhoto(): Promise<Buffer> {
  const room = `<svg xmlns="http://www.w3.org/2000/svg" width="1024" height="768">
    <defs><linearGradient id="wall" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="#9fb8c9"/><stop offset="1" stop-color="#5f7a8c"/></linearGradient>
    <linearGradient id="floor" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="#b08d64"/><stop offset="1" stop-color="#6f5335"/></linearGradient></defs>
    <rect width="1024" height="560" fill="url(#wall)"/><rect y="540" width="1024" height="228" fill="url(#floor)"/>
    <ellipse cx="512" cy="650" rx="230" ry="40" fill="#000" opacity="0.25"/></svg>`;
  const cat = await sharp(await samplePetPng()).resize(520, 520).toBuffer();
  return sharp(Buffer.from(room)).composite([{ input: cat, left: 252, top: 150 }]).jpeg({ quality: 90 }).toBuffer();
}

/** The warm-up's photo: 64x64 is enough, the model always runs at its input size and the rest is cheap. */
export function warmupPhoto(): Promise<Buffer> {
  return sharp({ create: { width: 64, height: 64, channels: 3, background: { r: 200, g: 120, b: 60 } } }).png().toBuffer();
}

/**
 * What a pipeline worker runs at start to compile its pixel loops (engine/pipeline/worker.ts):
 * the sample cat on a flat wall, 320x240 JPEG (a JPEG like the photos it will get; big enough
 * for V8 to optimize the loops, small enough to cost a few tens of ms).
 */
export async function pipelineWarmupPhoto(): Promise<Buffer> {
  const cat = await sharp(await samplePetPng()).resize(200, 200).toBuffer();
  return sharp({ create: { width: 320, height: 240, channels: 3, background: { r: 122, g: 106, b: 85 } } })
    .composite([{ input: cat, left: 60, top: 30 }]).jpeg({ quality: 85 }).toBuffer();
}

/** The sample as an RGBA PNG (rendered once by librsvg, then kept). */
export function samplePetPng(): Promise<Buffer> {
  cached ??= sharp(Buffer.from(SAMPLE_SVG)).png({ compressionLevel: 1 }).toBuffer();
  return cached;
}
