export {
  DURATION_HINT,
  DurationError,
  durationProblem,
  formatDuration,
  MAX_DURATION_MS,
  parseDuration,
} from './duration.ts';
export { formatRuleErrors, type RuleError } from './paths.ts';
export { MAX_CONDITION_DEPTH, MAX_CONDITION_NODES, RULE_SCHEMA_ID, ruleSchema } from './schema.ts';
export { isCalendarDate, isTimeZone } from './semantic.ts';
export { MAX_ERRORS, type RuleValidation, validateRule } from './validate.ts';
