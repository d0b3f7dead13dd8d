// ECharts with only what the dashboard draws: bar and pie charts, a grid, tooltips and plain
// (not scrolling) legends, on a canvas. Chart.vue loads this module on first use, so ECharts
// (about half the UI's JavaScript) is fetched when the dashboard opens, not at start-up.
import { use, init } from 'echarts/core';
import { BarChart, PieChart } from 'echarts/charts';
import { GridComponent, TooltipComponent, LegendPlainComponent } from 'echarts/components';
import { CanvasRenderer } from 'echarts/renderers';

use([BarChart, PieChart, GridComponent, TooltipComponent, LegendPlainComponent, CanvasRenderer]);

export { init };
