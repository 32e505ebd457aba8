//! `--plot` for the examples: samples a semaphore's line with `Semaphore::snapshot` and
//! writes a plain SVG (no plotting crate): queue depth per priority class over time, and
//! the distribution (cumulative) of the time each class waited.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use prio_semaphore::Semaphore;

/// Whether the command line asks for a plot: `--plot [PATH]`, with `default` as the path.
pub fn requested(default: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    let at = args.iter().position(|a| a == "--plot")?;
    Some(
        args.get(at + 1)
            .filter(|a| !a.starts_with("--"))
            .cloned()
            .unwrap_or_else(|| default.to_owned()),
    )
}

/// A priority class as the picture names and colours it.
#[derive(Clone, Copy)]
pub struct Class {
    pub priority: i64,
    pub name: &'static str,
    pub colour: &'static str,
}

/// The two kinds of request both examples serve, realtime ahead of batch, in the colours
/// every picture uses for them.
pub const fn realtime_and_batch(realtime: i64, batch: i64) -> [Class; 2] {
    [
        Class {
            priority: realtime,
            name: "realtime",
            colour: "#d62728",
        },
        Class {
            priority: batch,
            name: "batch",
            colour: "#1f77b4",
        },
    ]
}

/// One run: the queue depth of each priority class over time, and each kind of request's
/// waits.
pub struct Run {
    pub title: String,
    /// The priority classes `depth` follows (in a FIFO run, one class holds every kind).
    pub depth_classes: Vec<Class>,
    /// `(seconds since the start, waiters per class in `depth_classes` order)`.
    pub depth: Vec<(f64, Vec<usize>)>,
    /// Waits in milliseconds, per kind of request in the figure's `kinds` order.
    pub waits: Vec<Vec<f64>>,
}

/// Samples `sem` every `every` until `stop` says so; returns the depth series for `classes`.
pub async fn sample(
    sem: Arc<Semaphore>,
    classes: &[Class],
    every: Duration,
    stop: impl Fn() -> bool,
) -> Vec<(f64, Vec<usize>)> {
    let started = Instant::now();
    let mut series = Vec::new();
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let snapshot = sem.snapshot();
        let depth = classes
            .iter()
            .map(|class| {
                snapshot
                    .classes
                    .iter()
                    .filter(|c| c.priority == class.priority)
                    .map(|c| c.waiters)
                    .sum()
            })
            .collect();
        series.push((started.elapsed().as_secs_f64(), depth));
        if stop() {
            return series;
        }
    }
}

const PANEL_W: f64 = 420.0;
const PANEL_H: f64 = 220.0;
const LEFT: f64 = 60.0;
const GAP: f64 = 90.0;
const TOP: f64 = 60.0;
const ROW_H: f64 = PANEL_H + 90.0;

/// Writes the figure: one row per run, queue depth on the left, waits on the right.
/// `kinds` name and colour the kinds of request, in the order of each run's `waits`;
/// `waited` says what the waits measure.
pub fn write_svg(
    path: &str,
    title: &str,
    waited: &str,
    kinds: &[Class],
    runs: &[Run],
) -> std::io::Result<()> {
    let classes = kinds;
    let width = LEFT + 2.0 * PANEL_W + GAP + 30.0;
    let height = TOP + ROW_H * runs.len() as f64 + 10.0;
    let mut svg = String::new();
    header(&mut svg, width, height, title, classes);
    let scales = Scales::of(runs);
    for (row, run) in runs.iter().enumerate() {
        let y0 = TOP + ROW_H * row as f64 + 20.0;
        let _ = writeln!(
            svg,
            r#"<text x="{LEFT}" y="{}" font-size="14" font-weight="bold">{}</text>"#,
            y0 - 6.0,
            escape(&run.title)
        );
        let depth = Panel::new(LEFT, y0 + 10.0, scales.t_max, scales.depth_max);
        depth_panel(&mut svg, &depth, run);
        let waits = Panel::new(LEFT + PANEL_W + GAP, y0 + 10.0, scales.wait_max, 1.0);
        waits_panel(&mut svg, &waits, waited, classes, run);
    }
    svg.push_str("</svg>\n");
    std::fs::write(path, svg)
}

/// The document's opening, its title and the legend of the classes.
fn header(svg: &mut String, width: f64, height: f64, title: &str, classes: &[Class]) {
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="24" font-size="16" text-anchor="middle">{}</text>"#,
        width / 2.0,
        escape(title)
    );
    for (i, class) in classes.iter().enumerate() {
        let x = LEFT + 160.0 * i as f64;
        let _ = writeln!(
            svg,
            r#"<rect x="{x}" y="36" width="14" height="4" fill="{}"/><text x="{}" y="42">{}</text>"#,
            class.colour,
            x + 20.0,
            class.name
        );
    }
}

/// The axes' ranges, shared by every run so that the rows compare.
struct Scales {
    t_max: f64,
    depth_max: f64,
    wait_max: f64,
}

impl Scales {
    fn of(runs: &[Run]) -> Self {
        let t_max = runs
            .iter()
            .flat_map(|r| r.depth.last().map(|d| d.0))
            .fold(0.1, f64::max);
        let depth_max = runs
            .iter()
            .flat_map(|r| r.depth.iter().flat_map(|(_, d)| d.iter().copied()))
            .max()
            .unwrap_or(0)
            .max(1) as f64;
        let wait_max = runs
            .iter()
            .flat_map(|r| r.waits.iter().flatten().copied())
            .fold(1.0, f64::max);
        Self {
            t_max: nice(t_max),
            depth_max: nice(depth_max),
            wait_max: nice(wait_max),
        }
    }
}

/// Left: queue depth per class over time (a step line per class).
fn depth_panel(svg: &mut String, depth: &Panel, run: &Run) {
    depth.axes(svg, "time (s)", "waiters queued");
    for (c, class) in run.depth_classes.iter().enumerate() {
        let mut points = String::new();
        let mut last: Option<f64> = None;
        for (t, d) in &run.depth {
            let y = d[c] as f64;
            if let Some(prev) = last {
                let _ = write!(points, "{:.1},{:.1} ", depth.x(*t), depth.y(prev));
            }
            let _ = write!(points, "{:.1},{:.1} ", depth.x(*t), depth.y(y));
            last = Some(y);
        }
        let _ = writeln!(
            svg,
            r#"<polyline points="{points}" fill="none" stroke="{}" stroke-width="1.5"/>"#,
            class.colour
        );
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" fill="{}" {HALO}>{} (priority {})</text>"#,
            depth.x0 + PANEL_W - 150.0,
            depth.y0 + 16.0 + 16.0 * c as f64,
            class.colour,
            class.name,
            class.priority
        );
    }
}

/// Right: cumulative distribution of each class's waits.
fn waits_panel(svg: &mut String, waits: &Panel, waited: &str, classes: &[Class], run: &Run) {
    waits.axes(svg, waited, "share of requests (cumulative)");
    for (c, class) in classes.iter().enumerate() {
        let mut sorted = run.waits[c].clone();
        sorted.sort_by(f64::total_cmp);
        if sorted.is_empty() {
            continue;
        }
        let n = sorted.len() as f64;
        let mut points = format!("{:.1},{:.1} ", waits.x(0.0), waits.y(0.0));
        for (i, w) in sorted.iter().enumerate() {
            let _ = write!(
                points,
                "{:.1},{:.1} {:.1},{:.1} ",
                waits.x(*w),
                waits.y(i as f64 / n),
                waits.x(*w),
                waits.y((i + 1) as f64 / n)
            );
        }
        let median = sorted[sorted.len() / 2];
        let _ = writeln!(
            svg,
            r#"<polyline points="{points}" fill="none" stroke="{}" stroke-width="1.5"/>"#,
            class.colour
        );
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" fill="{}" {HALO}>{}: median {:.0} ms, n = {}</text>"#,
            waits.x0 + 0.3 * PANEL_W,
            waits.y0 + 16.0 + 16.0 * c as f64,
            class.colour,
            class.name,
            median,
            sorted.len()
        );
    }
}

/// A line of a [`LinePanel`]: `(x, y)` points, joined in order.
pub struct Series {
    pub name: String,
    pub colour: &'static str,
    pub points: Vec<(f64, f64)>,
}

/// A panel of lines, with its own title and axes (axes start at 0; their ends are the
/// largest value rounded up, or the given ones).
pub struct LinePanel {
    pub title: String,
    pub x_title: &'static str,
    pub y_title: &'static str,
    pub x_max: Option<f64>,
    pub y_max: Option<f64>,
    pub series: Vec<Series>,
}

/// Writes panels of lines side by side (`fair_share`'s figure).
pub fn write_line_panels(path: &str, title: &str, panels: &[LinePanel]) -> std::io::Result<()> {
    let width = LEFT + (PANEL_W + GAP) * panels.len() as f64 - GAP + 30.0;
    let height = TOP + ROW_H + 10.0;
    let mut svg = String::new();
    header(&mut svg, width, height, title, &[]);
    for (i, lines) in panels.iter().enumerate() {
        let x0 = LEFT + (PANEL_W + GAP) * i as f64;
        let _ = writeln!(
            svg,
            r#"<text x="{x0}" y="{}" font-size="14" font-weight="bold">{}</text>"#,
            TOP + 14.0,
            escape(&lines.title)
        );
        let most = |axis: fn(&(f64, f64)) -> f64| {
            lines
                .series
                .iter()
                .flat_map(|s| s.points.iter().map(axis))
                .fold(1e-9, f64::max)
        };
        let x_max = lines.x_max.unwrap_or_else(|| nice(most(|p| p.0)));
        let y_max = lines.y_max.unwrap_or_else(|| nice(most(|p| p.1)));
        let panel = Panel::new(x0, TOP + 30.0, x_max, y_max);
        panel.axes(&mut svg, lines.x_title, lines.y_title);
        for (s, series) in lines.series.iter().enumerate() {
            let points: String = (series.points.iter())
                .map(|&(x, y)| format!("{:.1},{:.1} ", panel.x(x), panel.y(y.min(y_max))))
                .collect();
            let _ = writeln!(
                svg,
                r#"<polyline points="{points}" fill="none" stroke="{}" stroke-width="1.5"/>"#,
                series.colour
            );
            let _ = writeln!(
                svg,
                r#"<text x="{:.1}" y="{:.1}" fill="{}" {HALO}>{}</text>"#,
                x0 + 10.0,
                TOP + 48.0 + 16.0 * s as f64,
                series.colour,
                escape(&series.name)
            );
        }
    }
    svg.push_str("</svg>\n");
    std::fs::write(path, svg)
}

/// A plot area mapping data to pixels.
struct Panel {
    x0: f64,
    y0: f64,
    x_max: f64,
    y_max: f64,
}

impl Panel {
    fn new(x0: f64, y0: f64, x_max: f64, y_max: f64) -> Self {
        Self {
            x0,
            y0,
            x_max,
            y_max,
        }
    }
    fn x(&self, v: f64) -> f64 {
        self.x0 + v / self.x_max * PANEL_W
    }
    fn y(&self, v: f64) -> f64 {
        self.y0 + PANEL_H - v / self.y_max * PANEL_H
    }
    /// Frame, five ticks per axis with labels, axis titles.
    fn axes(&self, svg: &mut String, x_title: &str, y_title: &str) {
        let _ = writeln!(
            svg,
            r##"<rect x="{}" y="{}" width="{PANEL_W}" height="{PANEL_H}" fill="none" stroke="#888"/>"##,
            self.x0, self.y0
        );
        for i in 0..=5 {
            let f = f64::from(i) / 5.0;
            let (x, y) = (self.x(f * self.x_max), self.y(f * self.y_max));
            let _ = writeln!(
                svg,
                r##"<line x1="{x:.1}" y1="{b:.1}" x2="{x:.1}" y2="{b2:.1}" stroke="#888"/><text x="{x:.1}" y="{t:.1}" text-anchor="middle">{}</text>"##,
                tick(f * self.x_max),
                b = self.y0 + PANEL_H,
                b2 = self.y0 + PANEL_H + 4.0,
                t = self.y0 + PANEL_H + 16.0,
            );
            let _ = writeln!(
                svg,
                r##"<line x1="{a:.1}" y1="{y:.1}" x2="{b:.1}" y2="{y:.1}" stroke="#eee"/><text x="{l:.1}" y="{ty:.1}" text-anchor="end">{}</text>"##,
                tick(f * self.y_max),
                a = self.x0,
                b = self.x0 + PANEL_W,
                l = self.x0 - 6.0,
                ty = y + 4.0,
            );
        }
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{x_title}</text>"#,
            self.x0 + PANEL_W / 2.0,
            self.y0 + PANEL_H + 34.0
        );
        let _ = writeln!(
            svg,
            r#"<text transform="translate({:.1},{:.1}) rotate(-90)" text-anchor="middle">{y_title}</text>"#,
            self.x0 - 42.0,
            self.y0 + PANEL_H / 2.0
        );
    }
}

/// A white outline that keeps labels readable over lines.
const HALO: &str = r#"paint-order="stroke" stroke="white" stroke-width="4""#;

/// The smallest of 1, 2, 2.5, 3, 4, 5, 6 and 8 times a power of ten that is at least `v`: an axis end
/// whose five ticks are round numbers.
fn nice(v: f64) -> f64 {
    let power = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|&end| end >= v)
        .unwrap_or(10.0 * power)
}

fn tick(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
