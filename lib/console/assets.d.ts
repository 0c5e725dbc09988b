/** Console assets are bundled as text (serverless.yml esbuild loaders); see lib/console/serve.ts. */
declare module '*.html' {
  const source: string;
  export default source;
}
declare module '*.css' {
  const source: string;
  export default source;
}
declare module '*.browser.js' {
  const source: string;
  export default source;
}
declare module 'uplot/dist/uPlot.iife.min.js' {
  const source: string;
  export default source;
}
