/** Image shapes as the benchmarks' options write them: HxWxC, or HxW for colour (224x224 = 224x224x3). */
export function parseImageShape(text: string, option: string): [number, number, number] {
  const parts = text.trim().toLowerCase().split('x').map(Number);
  if ((parts.length !== 2 && parts.length !== 3) || parts.some((v) => !Number.isInteger(v) || v < 1)) {
    throw new Error(`${option} takes HxW or HxWxC such as 224x224x3, got ${text}`);
  }
  return [parts[0], parts[1], parts[2] ?? 3];
}

/** A comma-separated list of image shapes: 64x64x3,224x224x3. */
export function parseImageShapes(text: string, option: string): [number, number, number][] {
  return text.split(',').map((shape) => parseImageShape(shape, option));
}
