/** Whether a file name is one the importers read as a model (not an image): the one rule, for the CLI and the app. */
export function isModelFileName(name: string): boolean {
  return /\.(onnx|keras|h5|hdf5)$/i.test(name) || /(^|\/)model\.json$/i.test(name);
}
