/** Placeholder until the Keras topology importer (issue 22, helper h22b) is merged: it replaces this file. */
import type { ImportedModel, ModelFiles } from '../types.js';

export async function importKerasModel(_files: ModelFiles, _entry: string): Promise<ImportedModel> {
  throw new Error('Keras/TF.js layers models: not yet supported');
}
