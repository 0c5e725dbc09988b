/** Lua scripts are bundled as text (serverless.yml esbuild loader, vitest.config.ts plugin). */
declare module '*.lua' {
  const source: string;
  export default source;
}
