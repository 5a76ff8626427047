// Attribution-quality metrics of the paper's evaluation (spec §5), as pure functions over H×W maps.
export * from './types.js';
export * from './aggregate.js';
export * from './pointing.js';
export * from './gridpg.js';
export * from './outside-inside.js';
export * from './energy-pointing.js';
export * from './gaussian.js';
export * from './insertion.js';
export * from './sanity.js';
