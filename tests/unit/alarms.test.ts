/**
 * The alarms in serverless.yml watch the metrics riskhook emits, under the names and dimensions it
 * emits them (lib/observability.ts): a renamed metric would leave an alarm watching nothing, silently.
 * `npm run package` and cfn-lint check the template itself (README, Deploying).
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { captureOutput, releaseOutput } from '../support/captured-output.js';

interface Alarm {
  Type: string;
  Properties: Record<string, unknown> & {
    Namespace?: string;
    MetricName?: string;
    Dimensions?: { Name: string; Value: unknown }[];
    Metrics?: { Id: string; Expression?: string; MetricStat?: { Metric: { Namespace: string; MetricName: string; Dimensions: { Name: string; Value: string }[] } } }[];
    AlarmActions?: unknown;
    OKActions?: unknown;
    TreatMissingData?: string;
  };
}

const sls = parse(readFileSync('serverless.yml', 'utf8')) as {
  params: { default: Record<string, string> };
  provider: { logRetentionInDays?: number };
  resources: { Conditions: Record<string, unknown>; Parameters: Record<string, { Default: string }>; Resources: Record<string, Alarm> };
};
const alarms = Object.fromEntries(Object.entries(sls.resources.Resources ?? {}).filter(([, r]) => r.Type === 'AWS::CloudWatch::Alarm'));

describe('serverless.yml alarms', () => {
  let emitted: Map<string, Record<string, string>[]>;
  beforeAll(async () => {
    // What lib/observability.ts emits, with Powertools' service dimension, captured from its EMF output.
    const out = captureOutput();
    const o = await import('../../lib/observability.js');
    o.recordDecisionMetric('generic', { eventId: 'e', decision: 'hold', score: 70, reasons: [], features: {}, policyVersion: 'v', degraded: 'store_timeout' }, 5);
    o.recordConfigurationError();
    o.recordMisconfiguration('maxmemory_policy');
    releaseOutput();
    emitted = new Map();
    for (const line of out.json()) {
      const record = line as { _aws: { CloudWatchMetrics: { Dimensions: string[][]; Metrics: { Name: string }[] }[] } } & Record<string, string>;
      for (const { Dimensions, Metrics } of record._aws.CloudWatchMetrics) {
        for (const { Name } of Metrics) {
          for (const names of Dimensions) emitted.set(Name, [...(emitted.get(Name) ?? []), Object.fromEntries(names.map((n) => [n, record[n]!]))]);
        }
      }
    }
  });

  it('defines the degraded-share, 5xx, function-error, configuration-error and misconfiguration alarms', () => {
    expect(Object.keys(alarms).sort()).toEqual(['ConfigurationErrorsAlarm', 'DegradedShareAlarm', 'FunctionErrorsAlarm', 'Http5xxAlarm', 'MisconfigurationAlarm']);
    expect(alarms.Http5xxAlarm!.Properties).toMatchObject({ Namespace: 'AWS/ApiGateway', MetricName: '5xx' });
    expect(alarms.FunctionErrorsAlarm!.Properties).toMatchObject({ Namespace: 'AWS/Lambda', MetricName: 'Errors' });
    expect(alarms.DegradedShareAlarm!.Properties.Metrics!.find((m) => m.Expression)?.Expression).toBe('100 * FILL(degraded, 0) / decisions');
  });

  it('watches riskhook metrics under a name and dimension set that riskhook emits', () => {
    const watched = Object.values(alarms).flatMap(({ Properties: p }) => [
      ...(p.Namespace === 'riskhook' ? [{ name: p.MetricName!, dimensions: p.Dimensions! }] : []),
      ...(p.Metrics ?? []).flatMap((m) => (m.MetricStat?.Metric.Namespace === 'riskhook' ? [{ name: m.MetricStat.Metric.MetricName, dimensions: m.MetricStat.Metric.Dimensions }] : [])),
    ]);
    expect(watched.map((w) => w.name).sort()).toEqual(['configurationErrors', 'decisions', 'degradedDecisions', 'misconfiguration']);
    for (const { name, dimensions } of watched) {
      const wanted = Object.fromEntries(dimensions.map((d) => [d.Name, d.Value]));
      expect(emitted.get(name), `${name} with ${JSON.stringify(wanted)}`).toContainEqual(wanted);
    }
  });

  it('notifies the optional SNS topic only when alarmTopicArn is set, and treats no traffic as no alarm', () => {
    expect(sls.params.default.alarmTopicArn).toBe('');
    expect(sls.resources.Parameters.AlarmTopicArns!.Default).toBe('${param:alarmTopicArn}');
    expect(sls.resources.Conditions.HasAlarmTopic).toBeDefined();
    for (const [name, { Properties: p }] of Object.entries(alarms)) {
      const conditional = { 'Fn::If': ['HasAlarmTopic', { Ref: 'AlarmTopicArns' }, { Ref: 'AWS::NoValue' }] };
      expect(p.AlarmActions, name).toEqual(conditional);
      expect(p.OKActions, name).toEqual(conditional);
      expect(p.TreatMissingData, name).toBe('notBreaching');
    }
  });

  it('keeps a log retention', () => {
    expect(sls.provider.logRetentionInDays).toBe(30);
  });
});
