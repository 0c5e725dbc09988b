/**
 * Replay and backtest: a history (canonical events or the decision log) through `decide` on an
 * isolated store with the recorded clock, under one or more policies, into a report (JSON first,
 * then a table and a self-contained HTML page).
 */
export { readHistory, parseRecord, HistoryError, type HistoryItem, type RecordedDecision } from './history.js';
export { readLabels, type Labels } from './labels.js';
export { inRecordedOrder } from './order.js';
export { replay, DEFAULT_REORDER_WINDOW_MS, type ReplayOptions } from './replay.js';
export { ReportBuilder, type Report, type PolicyReport, type Label } from './report.js';
export { createScorers, assertEmptyRedis, NonEmptyRedisError, type Scorer, type Outcome } from './scorer.js';
export { renderTable } from './table.js';
export { renderHtml } from './html.js';
export { writeReport } from './output.js';
