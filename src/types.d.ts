// Text imports handled by esbuild (loader "text") and by the vitest plugin in vitest.config.ts.
declare module '*.wgsl' {
  const text: string;
  export default text;
}
declare module '*.proto' {
  const text: string;
  export default text;
}
