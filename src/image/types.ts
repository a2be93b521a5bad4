/**
 * The shapes pixel code passes around, declared once: a rectangle and a
 * point in image coordinates, and a cut-out as planes (colours and alpha).
 */
export interface Box { x: number; y: number; width: number; height: number }
export interface Point { x: number; y: number }

/** A cut-out's pixels: RGB (3 bytes a pixel; the cut-out's colours, zero where transparent) and alpha (0..255). */
export interface Planes {
  readonly width: number;
  readonly height: number;
  readonly rgb: Buffer;
  readonly alpha: Uint8Array;
}
