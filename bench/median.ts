/**
 * The median the benches quote: the middle value of the sorted runs, the upper middle for an even count, so it is
 * always a run that happened. (bench/dicom-venv.ts averages the two middle values, to match the Python baselines'
 * statistics.median it is printed beside.)
 */
export function median(xs: readonly number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
}
