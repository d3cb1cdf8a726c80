import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { NotifyMetrics } from '../../actors/notify/metrics.ts';
import { compileTemplate, TemplateError } from '../../actors/notify/templates/render.ts';
import {
  renderMessage,
  SAMPLE_CONTEXT,
  selectOverride,
  validateTemplateOverride,
} from '../../actors/notify/templates/templates.ts';
import type { TemplateOverride } from '../../db/notify/templates.ts';

const render = (
  source: string,
  context: Record<string, unknown>,
  escapeText?: (s: string) => string,
) => compileTemplate(source).render(context, escapeText);

describe('template renderer', () => {
  it('substitutes dotted paths; missing fields render empty; objects as JSON', () => {
    const ctx = { alert: { rule: { name: 'Hot' }, values: { t: 31.5 }, count: 3 } };
    expect(render('{{alert.rule.name}} x{{alert.count}}', ctx)).toBe('Hot x3');
    expect(render('[{{ alert.device.name }}]', ctx)).toBe('[]');
    expect(render('{{alert.values}}', ctx)).toBe('{"t":31.5}');
  });

  it('sections: conditionals, object scope, lists, inverted', () => {
    const ctx = { alert: { device: { name: 'F3' }, tags: ['a', 'b'], none: [] as string[] } };
    expect(render('{{#alert.device}}on {{name}}{{/alert.device}}', ctx)).toBe('on F3');
    expect(render('{{#alert.tags}}<{{.}}>{{/alert.tags}}', ctx)).toBe('<a><b>');
    expect(render('{{^alert.none}}empty{{/alert.none}}', ctx)).toBe('empty');
    expect(render('{{#alert.missing}}x{{/alert.missing}}{{! note }}', ctx)).toBe('');
  });

  it('escapes for the channel except in triple braces', () => {
    const ctx = { v: '<b>&' };
    const esc = (s: string) => s.replace(/</g, '&lt;');
    expect(render('{{v}}|{{{v}}}|{{& v}}', ctx, esc)).toBe('&lt;b>&|<b>&|<b>&');
  });

  it('reads own properties only: no prototype, no functions called', () => {
    const ctx = { alert: { name: 'x' } };
    expect(render('{{alert.constructor}}{{alert.__proto__}}{{alert.toString}}', ctx)).toBe('');
    expect(render('{{f}}', { f: () => 'called' })).toBe('');
  });

  it.each([
    ['{{alert.rule.name', /unclosed/],
    ['{{#a}}x', /never closed/],
    ['{{#a}}x{{/b}}', /does not close/],
    ['{{/a}}', /closes nothing/],
    ['{{a..b}}', /invalid name/],
    ['{{> partial}}', /not supported/],
    ['{{alrt.rule}}', /unknown name 'alrt'/],
  ])('%s is an error', (source, message) => {
    expect(() => render(source, { alert: {} })).toThrow(message);
  });

  it('bounds the output', () => {
    const big = 'x'.repeat(40_000);
    expect(() => render('{{a}}{{a}}', { a: big })).toThrow(TemplateError);
  });
});

describe('rendering notifications', () => {
  const base = {
    channel: 'email',
    event: 'firing' as const,
    severity: 'critical',
    tenantId: 'acme',
    alertId: '42',
    context: SAMPLE_CONTEXT,
    occurredAt: 0,
  };
  const override = (o: Partial<TemplateOverride>): TemplateOverride => ({
    id: '1',
    tenantId: 'acme',
    channel: 'email',
    event: '*',
    severity: '*',
    title: '',
    body: 'x',
    ...o,
  });

  it('renders the defaults with the alert context, links and source', () => {
    const { message, warnings } = renderMessage(base);
    expect(warnings).toEqual([]);
    expect(message.title).toBe('[critical] Freezer too warm on Freezer 3');
    expect(message.body).toContain('Freezer too warm is firing.');
    expect(message.body).toContain('Device: Freezer 3 (freezer-3)');
    expect(message.links).toEqual([
      { href: 'https://gito.example.com/alerts/42', text: 'Open alert' },
      { href: 'https://gito.example.com/alerts/42/ack', text: 'Acknowledge' },
    ]);
    expect(message.source).toBe('Freezer 3');
    expect(message.details).toMatchObject({ alert: { id: '42' }, event: 'firing' });
  });

  it('shapes per channel: SMS has no title, Slack escapes values', () => {
    expect(renderMessage({ ...base, channel: 'sms' }).message.title).toBe('');
    const slack = renderMessage({
      ...base,
      channel: 'slack',
      context: { ...SAMPLE_CONTEXT, alert: { ...SAMPLE_CONTEXT.alert, summary: 'a < b & c' } },
    });
    expect(slack.message.body).toContain('a &lt; b &amp; c');
  });

  it('picks the most specific override', () => {
    const list = [
      override({ id: 'any', body: 'any' }),
      override({ id: 'sev', severity: 'critical', body: 'sev' }),
      override({ id: 'ev', event: 'firing', body: 'ev' }),
      override({ id: 'both', event: 'firing', severity: 'critical', body: 'both' }),
      override({ id: 'other', channel: 'sms', event: 'firing', severity: 'critical', body: 'sms' }),
    ];
    expect(selectOverride(list, 'email', 'firing', 'critical')?.id).toBe('both');
    expect(selectOverride(list, 'email', 'firing', 'info')?.id).toBe('ev');
    expect(selectOverride(list, 'email', 'resolved', 'critical')?.id).toBe('sev');
    expect(selectOverride(list, 'email', 'resolved', 'info')?.id).toBe('any');
    expect(selectOverride(list, 'webhook', 'firing', 'critical')).toBeUndefined();
  });

  it('uses a tenant override, keeping the default title when the override has none', () => {
    const { message } = renderMessage(base, [
      override({ body: 'ALERT {{alert.rule.name}} for {{tenant.name}}' }),
    ]);
    expect(message.body).toBe('ALERT Freezer too warm for Acme');
    expect(message.title).toBe('[critical] Freezer too warm on Freezer 3');
  });

  it('falls back to the default on a failing override, with a warning and a metric', async () => {
    const metrics = new NotifyMetrics(new Registry());
    const { message, warnings } = renderMessage(
      base,
      [override({ id: '9', body: 'Hi {{alrt.rule.name}}' })],
      metrics,
    );
    expect(message.body).toContain('Freezer too warm is firing.');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/template 9 .*unknown name 'alrt'.*default template was used/);
    const value = await metrics.templateFallbacks.get();
    expect(value.values).toEqual([
      expect.objectContaining({ labels: { channel: 'email' }, value: 1 }),
    ]);
  });

  it('validates overrides before saving, naming the field', () => {
    const ok = {
      tenantId: 'acme',
      channel: 'sms',
      event: 'firing' as const,
      severity: '*',
      title: '',
      body: '{{alert.rule.name}}',
    };
    expect(() => validateTemplateOverride(ok)).not.toThrow();
    expect(() => validateTemplateOverride({ ...ok, channel: 'fax' })).toThrow(/^channel/);
    expect(() => validateTemplateOverride({ ...ok, severity: 'huge' })).toThrow(/^severity/);
    expect(() => validateTemplateOverride({ ...ok, body: '{{#x}}' })).toThrow(/^body/);
    expect(() => validateTemplateOverride({ ...ok, title: '{{alrt.x}}' })).toThrow(/^title.*alrt/);
  });
});
