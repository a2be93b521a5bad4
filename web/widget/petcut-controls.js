// Two keyboard-friendly controls: the print style picker (a radiogroup: arrow keys move and choose, one tab stop)
// and tap-to-select on the photo (a tap, or arrow keys moving a marker and Enter).

/**
 * @param {HTMLElement} group the role=radiogroup element
 * @param {Promise<Array<{ name: string, label: string, description?: string, previewUrl?: string }>>} effects
 */
export function bindStyles(group, effects, { preview, select }) {
  let current;
  const radios = () => [...group.querySelectorAll('[role=radio]')];
  const check = (name) => {
    current = name;
    for (const radio of radios()) {
      const on = radio.dataset.effect === name;
      radio.setAttribute('aria-checked', String(on));
      radio.tabIndex = on ? 0 : -1;
    }
    if (!radios().some((r) => r.tabIndex === 0) && radios()[0]) radios()[0].tabIndex = 0;
  };
  const choose = (radio, focus) => {
    if (focus) radio.focus();
    if (radio.dataset.effect === current) return;
    check(radio.dataset.effect);
    void select(radio.dataset.effect);
  };
  void effects.then((list) => {
    for (const effect of list) {
      const radio = document.createElement('button');
      radio.type = 'button';
      radio.className = 'style';
      radio.setAttribute('role', 'radio');
      radio.dataset.effect = effect.name;
      if (effect.description) radio.title = effect.description;
      if (effect.previewUrl) {
        const img = document.createElement('img');
        img.alt = '';
        img.width = 64;
        img.height = 64;
        void preview(img, effect.previewUrl);
        radio.append(img);
      }
      radio.append(document.createTextNode(effect.label ?? effect.name));
      radio.addEventListener('click', () => choose(radio, false));
      group.append(radio);
    }
    check(current);
  });
  group.addEventListener('keydown', (event) => {
    const all = radios();
    const at = all.indexOf(event.target);
    if (at < 0) return;
    const step = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 }[event.key];
    if (step) {
      event.preventDefault();
      choose(all[(at + step + all.length) % all.length], true);
    } else if (event.key === 'Home' || event.key === 'End') {
      event.preventDefault();
      choose(all[event.key === 'Home' ? 0 : all.length - 1], true);
    }
  });
  return { check };
}

/** Tap-to-select: shows the photo, turns a tap (or the marker, keyboard) into a point in shares 0-1 of the photo. */
export function bindTap({ view, photo, marker, prompt, button, t, photoUrl, show, hideCut, chosen }) {
  let point = { x: 0.5, y: 0.5 };
  let active = false;
  const place = () => {
    const box = photo.getBoundingClientRect();
    const frame = view.getBoundingClientRect();
    marker.style.left = `${box.left - frame.left + point.x * box.width}px`;
    marker.style.top = `${box.top - frame.top + point.y * box.height}px`;
  };
  async function start() {
    const url = photoUrl();
    if (!url) return;
    active = true;
    photo.alt = t.photoAlt;
    await show(photo, url);
    photo.hidden = false;
    hideCut(true);
    marker.hidden = false;
    place();
    prompt.textContent = t.tapPrompt;
    prompt.hidden = false;
    button.textContent = t.cancelTap;
  }
  function stop() {
    active = false;
    photo.hidden = true;
    marker.hidden = true;
    hideCut(false);
    button.textContent = t.tapButton;
  }
  const pick = () => {
    point = { x: Math.round(point.x * 100) / 100, y: Math.round(point.y * 100) / 100 };
    void chosen(point);
  };
  photo.addEventListener('click', (event) => {
    const box = photo.getBoundingClientRect();
    point = { x: Math.min(1, Math.max(0, (event.clientX - box.left) / box.width)), y: Math.min(1, Math.max(0, (event.clientY - box.top) / box.height)) };
    place();
    pick();
  });
  photo.addEventListener('keydown', (event) => {
    const move = { ArrowLeft: [-0.05, 0], ArrowRight: [0.05, 0], ArrowUp: [0, -0.05], ArrowDown: [0, 0.05] }[event.key];
    if (move) {
      event.preventDefault();
      point = { x: Math.min(1, Math.max(0, point.x + move[0])), y: Math.min(1, Math.max(0, point.y + move[1])) };
      place();
    } else if (event.key === 'Enter' || event.key === ' ') {
      event.preventDefault();
      pick();
    }
  });
  button.addEventListener('click', () => {
    if (active) {
      stop();
      prompt.hidden = true;
    } else void start();
  });
  return { start, stop };
}
