// The widget's markup, styles and English strings after the first load (petcut-app.js fills them in).

export const LABELS = {
  uploading: 'Uploading your photo…',
  preparing: 'Preparing your photo…',
  queued: 'Waiting in line…',
  queuedAt: 'Waiting in line (position {position})…',
  cache: 'Reading your photo…',
  decode: 'Reading your photo…',
  segmentation: 'Finding your pet…',
  refine: 'Tidying the edges…',
  effect: 'Applying the print style…',
  encode: 'Almost done…',
  store: 'Almost done…',
  eta: 'about {seconds} s left',
  done: 'Your cut-out is ready.',
  styleDone: 'Style changed to {style}.',
  retrying: 'The service is busy, trying again in {seconds} s…',
  cutoutAlt: 'Your pet, cut out',
  photoAlt: 'Your photo: tap your pet',
  styles: 'Print style',
  noPet: 'We could not spot a pet in this photo. Choose "Wrong pet? Tap it", then tap your pet on the photo and we will cut it out again.',
  tapPrompt: 'Tap your pet on the photo (or move the marker with the arrow keys and press Enter).',
  tapButton: 'Wrong pet? Tap it',
  cancelTap: 'Cancel',
  another: 'Use another photo',
  rateQuestion: 'Happy with the cut-out?',
  rateGood: 'Yes',
  rateBad: 'No',
  rateThanks: 'Thank you for telling us.',
  recent: 'Your recent pets',
  recentAlt: 'Recent pet {n}',
  retry: 'Try again',
  heic: 'This photo is in HEIC format, which we cannot read yet. On an iPhone, choose "Most Compatible" under Settings > Camera > Formats, or take the photo with the "Take a photo" button, then try again.',
  unsupported: 'This file is not a photo we can read. Please choose a JPEG, PNG or WebP photo.',
  tooLarge: 'This photo is larger than {mb} MB. Please choose a smaller one.',
  timeout: 'This is taking longer than usual. Please try again in a minute.',
  failed: 'Something went wrong with this photo. Please try again or choose another one.',
  offline: 'We could not reach our service. Check your connection and try again.',
};

export const CSS = `
.work{display:grid;gap:.75rem}
.bar{height:8px;border-radius:4px;background:var(--petcut-track,#d0d7de);overflow:hidden}
.bar span{display:block;height:100%;width:0;background:var(--_a);transition:width .3s}
.view{position:relative;margin:0;border-radius:var(--_r);overflow:hidden;border:1px solid var(--_b);
background:repeating-conic-gradient(var(--petcut-check-a,#e6e6e6) 0 25%,var(--petcut-check-b,#fff) 0 50%) 0 0/20px 20px}
.view img{display:block;margin:0 auto;width:auto;height:auto;max-width:100%;max-height:var(--petcut-preview-max-height,26rem)}
.view .photo{cursor:crosshair}
.marker{position:absolute;width:28px;height:28px;margin:-14px 0 0 -14px;border:3px solid #fff;border-radius:50%;
box-shadow:0 0 0 2px var(--_a),0 1px 4px #0008;pointer-events:none}
.row{display:flex;flex-wrap:wrap;gap:.5rem;align-items:center}
.btn{padding:.5rem 1rem;border:1px solid var(--_a);background:var(--_bg);color:var(--_a)}
.btn.primary{background:var(--_a);color:var(--_ac)}
.prompt{margin:0;padding:.75rem;border-radius:var(--_r);background:var(--petcut-prompt-bg,#fff8c5);color:var(--petcut-prompt-text,#3b2e00)}
.styles{display:grid;grid-template-columns:repeat(auto-fill,minmax(88px,1fr));gap:.5rem}
.style{display:grid;gap:.25rem;justify-items:center;padding:.375rem;border:2px solid var(--_b);background:var(--_bg);color:inherit;font-size:.8125em}
.style img{width:64px;height:64px;object-fit:contain}
.style[aria-checked=true]{border-color:var(--_a);box-shadow:inset 0 0 0 2px var(--_a);font-weight:600}
.rate{display:flex;gap:.5rem;align-items:center;flex-wrap:wrap;margin:0;padding:0;border:0}
.rate legend{float:left;margin-right:.5rem;padding:0}
.recent .list{display:flex;gap:.5rem;flex-wrap:wrap}
.recent button{padding:2px;border:1px solid var(--_b);background:repeating-conic-gradient(#e6e6e6 0 25%,#fff 0 50%) 0 0/12px 12px}
.recent img{width:56px;height:56px;object-fit:contain;display:block}
.error{padding:.75rem;border-radius:var(--_r);border:1px solid var(--petcut-error,#b3261e);color:var(--petcut-error,#b3261e);background:var(--_bg)}
.error p{margin:0 0 .5rem}
.busy .drop{opacity:.6}`;

export const HTML = `
<div class="recent" hidden><p class="hint recent-title"></p><div class="list"></div></div>
<div class="work" hidden>
  <div class="progress" hidden><div class="bar" role="progressbar" aria-valuemin="0" aria-valuemax="100" aria-valuenow="0"><span></span></div></div>
  <figure class="view" part="preview">
    <img class="cut" part="cutout" alt="" hidden>
    <img class="photo" tabindex="0" hidden>
    <span class="marker" hidden></span>
  </figure>
  <p class="prompt" hidden></p>
  <div class="row actions" hidden><button type="button" class="btn tap"></button><button type="button" class="btn another"></button></div>
  <fieldset class="rate" hidden><legend></legend><button type="button" class="btn" data-rating="good"></button><button type="button" class="btn" data-rating="bad"></button></fieldset>
  <p class="title styles-title" id="styles-title" hidden></p>
  <div class="styles" role="radiogroup" aria-labelledby="styles-title" hidden></div>
</div>
<div class="error" role="alert" hidden><p></p><button type="button" class="btn primary retry"></button></div>`;

/** Fills {name} placeholders. */
export const fill = (text, values = {}) => String(text).replace(/\{(\w+)\}/g, (_, key) => String(values[key] ?? ''));
