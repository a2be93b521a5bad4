// SVG -> raster through sharp (librsvg), for charts (the load-test report's PNGs for
// CI logs) and for drawing test photos: only src/image/ and src/effects/ may import
// sharp (eslint/boundaries.js), so the operations room comes here for pixels.
import sharp from 'sharp';

// A chart or a 12 MP photo is at most ~4000 px a side; librsvg's own default limit
// would refuse nothing we draw, this one refuses a runaway size before allocating it.
const MAX_SIDE_PX = 8192;

function render(svg: string) {
  return sharp(Buffer.from(svg), { limitInputPixels: MAX_SIDE_PX * MAX_SIDE_PX, density: 72 });
}

/** The SVG drawn at its own width and height, as a PNG. */
export function svgToPng(svg: string): Promise<Buffer> {
  return render(svg).png({ compressionLevel: 9, palette: true }).toBuffer();
}

/** The SVG drawn as a JPEG photo (4:2:0, like a phone's), e.g. a generated or upscaled pet photo. */
export function svgToJpeg(svg: string, quality = 90): Promise<Buffer> {
  return render(svg).flatten({ background: '#ffffff' }).jpeg({ quality, chromaSubsampling: '4:2:0' }).toBuffer();
}
