//! PNG charts with plotters. Text uses the DejaVu Sans font embedded in the
//! binary (`assets/`, Bitstream Vera licence), so charts render the same on
//! a machine with no fonts installed.

use std::path::Path;
use std::sync::Once;

use chrono::NaiveDateTime;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
static REGISTER: Once = Once::new();

fn register() -> Result<(), String> {
    let mut result = Ok(());
    REGISTER.call_once(|| {
        result = register_font("sans-serif", FontStyle::Normal, FONT)
            .map_err(|_| "the embedded font is not a valid font".to_owned());
    });
    result
}

/// Actual values against a forecast's P50 and its P50–P90 band, over time.
#[derive(Debug, Clone, PartialEq)]
pub struct BandPlot {
    /// Chart title.
    pub title: String,
    /// Unit of the values.
    pub y_label: String,
    /// Local start of each interval.
    pub times: Vec<NaiveDateTime>,
    /// What happened.
    pub actual: Vec<f64>,
    /// Forecast median.
    pub p50: Vec<f64>,
    /// Forecast 90th percentile.
    pub p90: Vec<f64>,
}

/// Draws `plot` as a 1400×600 PNG at `path`.
pub fn draw_band_week(path: &Path, plot: &BandPlot) -> Result<(), String> {
    register()?;
    let failed = |error: String| format!("cannot draw {}: {error}", path.display());
    let Some(&first) = plot.times.first() else {
        return Err(failed("nothing to draw".to_owned()));
    };
    let hours = |at: &NaiveDateTime| (*at - first).num_minutes() as f64 / 60.0;
    let x_end = plot.times.last().map_or(1.0, |last| hours(last) + 0.25);
    let values = plot.actual.iter().chain(&plot.p50).chain(&plot.p90);
    let (low, high) = values.fold((0.0f64, 0.0f64), |(low, high), &v| {
        (low.min(v), high.max(v))
    });
    let margin = 0.05 * (high - low).max(1.0);

    let root = BitMapBackend::new(path, (1400, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| failed(e.to_string()))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(&plot.title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d((0.0..x_end).step(24.0), (low - margin)..(high + margin))
        .map_err(|e| failed(e.to_string()))?;
    let label = |x: &f64| {
        let at = first + chrono::TimeDelta::minutes((x * 60.0).round() as i64);
        at.format("%a %d %b").to_string()
    };
    chart
        .configure_mesh()
        .x_label_formatter(&label)
        .y_desc(plot.y_label.as_str())
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(|e| failed(e.to_string()))?;

    let band = RGBColor(70, 130, 220);
    let upper: Vec<(f64, f64)> = plot
        .times
        .iter()
        .zip(&plot.p90)
        .map(|(t, &v)| (hours(t), v))
        .collect();
    let lower: Vec<(f64, f64)> = plot
        .times
        .iter()
        .zip(&plot.p50)
        .map(|(t, &v)| (hours(t), v))
        .collect();
    let polygon: Vec<(f64, f64)> = upper
        .iter()
        .copied()
        .chain(lower.iter().rev().copied())
        .collect();
    chart
        .draw_series(std::iter::once(Polygon::new(polygon, band.mix(0.25))))
        .map_err(|e| failed(e.to_string()))?
        .label("P50–P90")
        .legend(move |(x, y)| {
            Rectangle::new([(x, y - 5), (x + 18, y + 5)], band.mix(0.25).filled())
        });
    chart
        .draw_series(LineSeries::new(lower, band.stroke_width(2)))
        .map_err(|e| failed(e.to_string()))?
        .label("forecast P50")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], band.stroke_width(2)));
    let actual: Vec<(f64, f64)> = plot
        .times
        .iter()
        .zip(&plot.actual)
        .map(|(t, &v)| (hours(t), v))
        .collect();
    chart
        .draw_series(LineSeries::new(actual, BLACK.stroke_width(1)))
        .map_err(|e| failed(e.to_string()))?
        .label("actual")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], BLACK.stroke_width(1)));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(|e| failed(e.to_string()))?;
    root.present().map_err(|e| failed(e.to_string()))
}

/// One strategy's series over time, for the backtest charts.
#[derive(Debug, Clone, PartialEq)]
pub struct StrategySeries {
    /// Strategy name.
    pub name: String,
    /// `(hours since the chart's start, value)`.
    pub points: Vec<(f64, f64)>,
}

const PALETTE: [RGBColor; 4] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
];

/// Draws stacked panels sharing a time axis (hours from `start`, labelled
/// in local dates): each panel a title, a unit and one line per strategy.
pub fn draw_panels(
    path: &Path,
    title: &str,
    start: NaiveDateTime,
    panels: &[(String, String, Vec<StrategySeries>)],
) -> Result<(), String> {
    register()?;
    let failed = |error: String| format!("cannot draw {}: {error}", path.display());
    let height = 260 * panels.len().max(1) as u32 + 40;
    let root = BitMapBackend::new(path, (1400, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| failed(e.to_string()))?;
    let root = root
        .titled(title, ("sans-serif", 22))
        .map_err(|e| failed(e.to_string()))?;
    let areas = root.split_evenly((panels.len().max(1), 1));
    let x_end = panels
        .iter()
        .flat_map(|(_, _, lines)| {
            lines
                .iter()
                .flat_map(|line| line.points.iter().map(|p| p.0))
        })
        .fold(1.0f64, f64::max);
    let days = x_end / 24.0;
    let step = if days > 60.0 {
        24.0 * 30.0
    } else if days > 10.0 {
        24.0 * 7.0
    } else {
        24.0
    };
    let label = |x: &f64| {
        let at = start + chrono::TimeDelta::minutes((x * 60.0).round() as i64);
        at.format("%a %d %b").to_string()
    };
    for ((panel_title, unit, lines), area) in panels.iter().zip(areas.iter()) {
        let values = lines
            .iter()
            .flat_map(|line| line.points.iter().map(|p| p.1));
        let (low, high) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
            (l.min(v), h.max(v))
        });
        let (low, high) = if low.is_finite() {
            (low, high)
        } else {
            (0.0, 1.0)
        };
        let margin = 0.05 * (high - low).max(1.0);
        let mut chart = ChartBuilder::on(area)
            .caption(panel_title, ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(30)
            .y_label_area_size(70)
            .build_cartesian_2d((0.0..x_end).step(step), (low - margin)..(high + margin))
            .map_err(|e| failed(e.to_string()))?;
        chart
            .configure_mesh()
            .x_label_formatter(&label)
            .y_desc(unit.as_str())
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(|e| failed(e.to_string()))?;
        draw_lines(&mut chart, lines, false, lines.len() > 1).map_err(failed)?;
    }
    root.present().map_err(|e| failed(e.to_string()))
}

/// Draws one line per strategy against a numeric x (a swept site key), with
/// a marker at each point.
pub fn draw_xy(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    lines: &[StrategySeries],
) -> Result<(), String> {
    register()?;
    let failed = |error: String| format!("cannot draw {}: {error}", path.display());
    let points = || lines.iter().flat_map(|line| line.points.iter().copied());
    let (x_low, x_high) = points().fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), p| {
        (l.min(p.0), h.max(p.0))
    });
    let (y_low, y_high) = points().fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), p| {
        (l.min(p.1), h.max(p.1))
    });
    if !x_low.is_finite() || !y_low.is_finite() {
        return Err(failed("nothing to draw".to_owned()));
    }
    let x_margin = 0.05 * (x_high - x_low).max(1.0);
    let y_margin = 0.08 * (y_high - y_low).abs().max(1.0);
    let root = BitMapBackend::new(path, (1000, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| failed(e.to_string()))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(80)
        .build_cartesian_2d(
            (x_low - x_margin)..(x_high + x_margin),
            (y_low - y_margin)..(y_high + y_margin),
        )
        .map_err(|e| failed(e.to_string()))?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .label_style(("sans-serif", 13))
        .draw()
        .map_err(|e| failed(e.to_string()))?;
    draw_lines(&mut chart, lines, true, true).map_err(failed)?;
    root.present().map_err(|e| failed(e.to_string()))
}

/// One line per strategy (with a marker at each point when `markers`), in
/// the palette's colours, and the legend when `legend`.
fn draw_lines<'a, DB, X, Y>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
    lines: &[StrategySeries],
    markers: bool,
    legend: bool,
) -> Result<(), String>
where
    DB: DrawingBackend + 'a,
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    for (k, line) in lines.iter().enumerate() {
        let color = PALETTE[k % PALETTE.len()];
        chart
            .draw_series(LineSeries::new(
                line.points.iter().copied(),
                color.stroke_width(2),
            ))
            .map_err(|e| e.to_string())?
            .label(line.name.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
        if markers {
            chart
                .draw_series(
                    line.points
                        .iter()
                        .map(|&p| Circle::new(p, 4, color.filled())),
                )
                .map_err(|e| e.to_string())?;
        }
    }
    if legend {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .label_font(("sans-serif", 13))
            .draw()
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}
