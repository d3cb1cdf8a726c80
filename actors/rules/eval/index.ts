export {
  type CompiledRule,
  type CompiledSeverity,
  compileRule,
  mergeHistoryWindows,
  relevantSeq,
} from './compile.ts';
export {
  type CompiledCondition,
  compareScalars,
  compileCondition,
  type DeviceView,
  evaluateCondition,
  nextTimedChange,
  silentSince,
  type TimedLeaf,
} from './condition.ts';
export { isScalar, MAX_WINDOW_READINGS, MetricHistory, type MetricHistoryJSON } from './history.ts';
export {
  INITIAL_RULE_STATE,
  latestValues,
  type RuleEvalState,
  type RuleEvent,
  type RuleStep,
  stepRule,
} from './step.ts';
