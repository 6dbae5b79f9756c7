/** Facts about ops that have no gradient rule. */

/** Ops whose outputs carry no gradient (shapes, indices, comparisons, rounding, random draws). */
export const NON_DIFFERENTIABLE_OPS: ReadonlySet<string> = new Set([
  'Shape', 'Size', 'ConstantOfShape', 'Constant', 'ArgMax', 'ArgMin', 'NonZero', 'Equal', 'Greater', 'Less',
  'GreaterOrEqual', 'LessOrEqual', 'Not', 'And', 'Or', 'Xor', 'Range', 'EyeLike', 'OneHot', 'Floor', 'Ceil',
  'Round', 'Sign', 'IsNaN', 'IsInf', 'RandomNormalLike', 'RandomUniformLike',
]);

/**
 * Ops without a rule whose inputs after the first are parameters (Upsample's scales, TopK's k): the
 * path search does not follow those inputs, so such a node on the path is reported as an op without a
 * rule rather than pulling its parameters' subgraph onto the path.
 */
export const FIRST_INPUT_ONLY_WITHOUT_RULE: ReadonlySet<string> = new Set(['Upsample', 'TopK']);
