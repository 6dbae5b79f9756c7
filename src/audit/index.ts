/** Dataset audits, browser-safe parts: manifests, globs, shards, metrics, summaries and the HTML report. */
export * from './types.js';
export { hasGlobMagic, splitGlob, globToRegExp } from '../dataset/glob.js';
export { parseManifest, parseCsv, parseBoxesText, decodeRle, isManifestName, ManifestError } from '../dataset/manifest.js';
export type { ManifestEntry } from '../dataset/manifest.js';
export { boxesRegion, maskRegion, scaleRegion, mapMetrics, round6, isFlagged, flagRuleText } from './metrics.js';
export type { Region } from './metrics.js';
export { hash64, parseShard, shardOf, itemStem } from '../dataset/shard.js';
export type { Shard } from '../dataset/shard.js';
export { summarize, reportOrder, byIndex, rowCsv, classesCsv, csvLine, csvField, ROW_COLUMNS, CLASS_COLUMNS } from './summary.js';
export type { AuditSummary, ClassSummary } from './summary.js';
export { reportHtml, escapeHtml } from './report.js';
export type { ReportOptions } from './report.js';
