// ECharts, for pages that chart something — never for the shell or the portal home.
// A page calls `const echarts = await loadCharts()` when it mounts, so the chart code is
// its own chunk, fetched only then; only the chart types and components listed here are
// bundled (add to them as pages need).
export async function loadCharts() {
  const [core, charts, components, renderers] = await Promise.all([
    import('echarts/core'),
    import('echarts/charts'),
    import('echarts/components'),
    import('echarts/renderers'),
  ]);
  core.use([
    charts.BarChart,
    charts.LineChart,
    charts.PieChart,
    components.GridComponent,
    components.TooltipComponent,
    components.LegendComponent,
    components.TitleComponent,
    components.AriaComponent,
    renderers.SVGRenderer,
  ]);
  return core;
}
