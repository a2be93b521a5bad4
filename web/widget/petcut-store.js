// Session persistence in the shopper's browser: the service session id and the last pets, kept 7 days (the
// service keeps a session's temporary images 7 days too: docs/http-api.md "Sessions and customer images").

const KEY = 'petcut:v1';
export const KEEP_MS = 7 * 24 * 3600 * 1000;
/** The pets shown under "Your recent pets": a handful, so the entry stays a few hundred bytes. */
const MAX_PETS = 6;

function read() {
  try {
    const value = JSON.parse(localStorage.getItem(KEY) ?? 'null');
    if (!value || typeof value !== 'object' || !(value.until > Date.now())) return { pets: [] };
    const pets = Array.isArray(value.pets) ? value.pets.filter((pet) => pet && pet.until > Date.now() && typeof pet.url === 'string') : [];
    return { sessionId: typeof value.sessionId === 'string' ? value.sessionId : undefined, variant: value.variant, pets };
  } catch {
    return { pets: [] };
  }
}

function write(value) {
  try {
    localStorage.setItem(KEY, JSON.stringify({ ...value, until: Date.now() + KEEP_MS }));
  } catch {
    // Storage full or refused: the widget still works for this page view.
  }
}

export const loadSession = read;

export function saveSession(sessionId, variant) {
  write({ ...read(), sessionId, variant });
}

/** Keeps a pet (newest first, one entry per original). */
export function rememberPet(pet) {
  const state = read();
  const pets = [{ ...pet, until: Date.now() + KEEP_MS }, ...state.pets.filter((p) => p.originalId !== pet.originalId)].slice(0, MAX_PETS);
  write({ ...state, pets });
}
