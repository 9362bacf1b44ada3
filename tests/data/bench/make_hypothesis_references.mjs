// Reference values for tests/test_bench_statistics.cpp, computed by an independent implementation: @stdlib's
// Welch two-sample and paired t-tests (npm, pinned in package.json), plus Cohen's d written out here.
// Regenerate: node tests/data/bench/make_hypothesis_references.mjs > tests/data/bench/hypothesis_references.json
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const ttest2 = require('@stdlib/stats-ttest2');
const ttest = require('@stdlib/stats-ttest');

const mean = (v) => v.reduce((a, b) => a + b, 0) / v.length;
const variance = (v) => { const m = mean(v); return v.reduce((a, b) => a + (b - m) ** 2, 0) / (v.length - 1); };

// Logit differences over prompts, clean vs with a head ablated (made-up but realistic magnitudes).
const datasets = {
  independent: {
    x: [3.12, 2.87, 3.45, 2.99, 3.61, 3.05, 2.78, 3.33],
    y: [2.41, 2.95, 2.12, 2.66, 2.38, 2.81, 2.05],
  },
  independent_unequal: {
    x: [0.5, -1.25, 2.0, 0.75, 3.5, -0.5],
    y: [1.1, 1.3, 0.9, 1.2, 1.0, 1.15, 1.05, 0.95, 1.25],
  },
  paired: {
    x: [3.12, 2.87, 3.45, 2.99, 3.61, 3.05, 2.78, 3.33, 2.91, 3.2, 3.02, 2.7],
    y: [2.95, 2.9, 3.01, 2.62, 3.4, 2.99, 2.81, 2.95, 2.52, 3.1, 2.75, 2.71],
  },
};

const out = {};
for (const [name, { x, y }] of Object.entries(datasets)) {
  const entry = { x, y };
  if (name.startsWith('independent')) {
    for (const alternative of ['two-sided', 'greater', 'less']) {
      const r = ttest2(x, y, { variance: 'unequal', alternative });
      entry[`welch_${alternative}`] = { t: r.statistic, df: r.df, p: r.pValue };
    }
    const pooled = Math.sqrt(((x.length - 1) * variance(x) + (y.length - 1) * variance(y)) / (x.length + y.length - 2));
    entry.cohens_d = (mean(x) - mean(y)) / pooled;
  } else {
    for (const alternative of ['two-sided', 'greater', 'less']) {
      const r = ttest(x, y, { alternative });
      entry[`paired_${alternative}`] = { t: r.statistic, df: r.df, p: r.pValue };
    }
    const d = x.map((v, i) => v - y[i]);
    entry.cohens_d = mean(d) / Math.sqrt(variance(d));
  }
  out[name] = entry;
}
console.log(JSON.stringify(out, null, 1));
