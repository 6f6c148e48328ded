/** Geometric copies of HWC images: shifts and mirrors (exact, integer), turns and resizing (bilinear). */

/** Shifted and optionally mirrored copy of one HWC image; pixels shifted in take the value `fill`. */
export function shiftImage(img: ArrayLike<number>, h: number, w: number, c: number, dx: number, dy: number, flip: boolean, fill = 0): Float32Array {
  const out = new Float32Array(h * w * c);
  if (fill !== 0) out.fill(fill);
  for (let y = 0; y < h; y++) {
    const sy = y - dy;
    if (sy < 0 || sy >= h) continue;
    for (let x = 0; x < w; x++) {
      let sx = x - dx;
      if (flip) sx = w - 1 - sx;
      if (sx < 0 || sx >= w) continue;
      for (let k = 0; k < c; k++) out[(y * w + x) * c + k] = img[(sy * w + sx) * c + k];
    }
  }
  return out;
}

/**
 * The image mirrored (if `flip`), turned by `angle` radians and resized by `scale` about its centre, then moved by
 * (dx, dy) pixels; each output pixel is a bilinear sample of the source, with `fill` outside it.
 */
export function warpImage(
  img: ArrayLike<number>,
  h: number,
  w: number,
  c: number,
  warp: { dx: number; dy: number; flip: boolean; angle: number; scale: number },
  fill = 0,
): Float32Array {
  const out = new Float32Array(h * w * c);
  const cx = (w - 1) / 2;
  const cy = (h - 1) / 2;
  // Inverse map: output pixel -> source position.
  const cos = Math.cos(warp.angle) / warp.scale;
  const sin = Math.sin(warp.angle) / warp.scale;
  const at = (sy: number, sx: number, k: number): number => (sy < 0 || sy >= h || sx < 0 || sx >= w ? fill : img[(sy * w + sx) * c + k]);
  for (let y = 0; y < h; y++) {
    const oy = y - warp.dy - cy;
    for (let x = 0; x < w; x++) {
      const ox = x - warp.dx - cx;
      let sx = cos * ox + sin * oy + cx;
      const sy = -sin * ox + cos * oy + cy;
      if (warp.flip) sx = w - 1 - sx;
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      const fx = sx - x0;
      const fy = sy - y0;
      for (let k = 0; k < c; k++) {
        const top = at(y0, x0, k) * (1 - fx) + at(y0, x0 + 1, k) * fx;
        const bottom = at(y0 + 1, x0, k) * (1 - fx) + at(y0 + 1, x0 + 1, k) * fx;
        out[(y * w + x) * c + k] = top * (1 - fy) + bottom * fy;
      }
    }
  }
  return out;
}
