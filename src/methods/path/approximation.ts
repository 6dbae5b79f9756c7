/**
 * Integration rules of Integrated Gradients, as Captum defines them
 * (captum/attr/_utils/approximation_methods.py): for `n` steps, the points `alphas` in [0, 1] where the
 * gradient is taken and the weights `stepSizes` that multiply each gradient.
 * - riemann_left / right / middle: n equal steps 1/n at torch.linspace(0, 1 − 1/n, n),
 *   linspace(1/n, 1, n), linspace(1/(2n), 1 − 1/(2n), n);
 * - riemann_trapezoid: linspace(0, 1, n), steps 1/n with the first and last halved (as Captum: their sum
 *   is 1 − 1/n, not 1);
 * - gausslegendre (Captum's default): the n-point Gauss–Legendre rule moved from [−1, 1] to [0, 1]:
 *   alphas 0.5·(1 + x_i), steps 0.5·w_i (numpy.polynomial.legendre.leggauss; here by Newton's method on
 *   P_n, to machine precision, nodes ascending as numpy's).
 * Riemann rules need n > 1, Gauss–Legendre n > 0 (Captum's asserts).
 */

export const INTEGRATION_RULES = ['gausslegendre', 'riemann_left', 'riemann_right', 'riemann_middle', 'riemann_trapezoid'] as const;
export type IntegrationRule = (typeof INTEGRATION_RULES)[number];

export interface Quadrature {
  alphas: Float64Array;
  stepSizes: Float64Array;
}

/** torch.linspace(a, b, n) as float64 (Captum takes float32's; the difference is below 1e-7). */
function linspace(a: number, b: number, n: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = n === 1 ? a : a + ((b - a) * i) / (n - 1);
  return out;
}

/** P_n(x) by the three-term recurrence, and P_n'(x) (from P_n and P_{n−1}). */
function legendre(n: number, x: number): { p: number; dp: number } {
  let p0 = 1;
  let p1 = x;
  for (let k = 2; k <= n; k++) {
    const p2 = ((2 * k - 1) * x * p1 - (k - 1) * p0) / k;
    p0 = p1;
    p1 = p2;
  }
  return { p: p1, dp: n === 1 ? 1 : (n * (x * p1 - p0)) / (x * x - 1) };
}

/** The n-point Gauss–Legendre nodes (ascending) and weights on [−1, 1]. */
export function legendreGauss(n: number): { nodes: Float64Array; weights: Float64Array } {
  const nodes = new Float64Array(n);
  const weights = new Float64Array(n);
  for (let i = 0; i < Math.ceil(n / 2); i++) {
    // the i-th largest root, from Tricomi's estimate, refined by Newton's method on P_n
    let x = Math.cos((Math.PI * (i + 0.75)) / (n + 0.5));
    for (let it = 0; it < 100; it++) {
      const { p, dp } = legendre(n, x);
      const dx = p / dp;
      x -= dx;
      if (Math.abs(dx) < 1e-16) break;
    }
    const { dp } = legendre(n, x); // P_n'(x) at the converged root
    const w = 2 / ((1 - x * x) * dp * dp);
    nodes[n - 1 - i] = x;
    nodes[i] = -x;
    weights[n - 1 - i] = w;
    weights[i] = w;
  }
  if (n % 2 === 1) nodes[(n - 1) / 2] = 0;
  return { nodes, weights };
}

/** Captum's step sizes and alphas for `rule` with `steps` points. */
export function quadrature(rule: IntegrationRule, steps: number): Quadrature {
  if (!Number.isInteger(steps) || steps < 1) throw new RangeError(`steps must be a positive integer, got ${steps}`);
  if (rule === 'gausslegendre') {
    const { nodes, weights } = legendreGauss(steps);
    return { alphas: nodes.map((x) => 0.5 * (1 + x)), stepSizes: weights.map((w) => 0.5 * w) };
  }
  if (steps < 2) throw new RangeError(`${rule} needs at least 2 steps (Captum's rule), got ${steps}`);
  const n = steps;
  const stepSizes = new Float64Array(n).fill(1 / n);
  if (rule === 'riemann_trapezoid') {
    stepSizes[0] = stepSizes[0]! / 2;
    stepSizes[n - 1] = stepSizes[n - 1]! / 2;
    return { alphas: linspace(0, 1, n), stepSizes };
  }
  if (rule === 'riemann_left') return { alphas: linspace(0, 1 - 1 / n, n), stepSizes };
  if (rule === 'riemann_middle') return { alphas: linspace(1 / (2 * n), 1 - 1 / (2 * n), n), stepSizes };
  if (rule === 'riemann_right') return { alphas: linspace(1 / n, 1, n), stepSizes };
  throw new RangeError(`unknown integration rule '${String(rule)}'; choose one of: ${INTEGRATION_RULES.join(', ')}`);
}
