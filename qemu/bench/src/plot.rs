//! The plots of the scaling series, as SVG (plotters; the text is left to the viewer).

use crate::records::Figure;
use plotters::prelude::*;
use std::path::Path;

/// One line of a plot: a name and its points.
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// The series of `keys` against the number of cores.
pub fn by_cores(figures: &[Figure], keys: &[(&str, &str)]) -> Vec<Series> {
    keys.iter()
        .map(|&(key, name)| {
            let mut points: Vec<(f64, f64)> =
                figures.iter().filter(|f| f.key == key).map(|f| (f64::from(f.cores), f.median)).collect();
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            Series { name: name.into(), points }
        })
        .filter(|s| !s.points.is_empty())
        .collect()
}

/// The revoke series: cost per descendant against the number of descendants (`revoke_N`).
pub fn revoke(figures: &[Figure]) -> Vec<Series> {
    let mut points: Vec<(f64, f64)> = figures
        .iter()
        .filter_map(|f| f.key.strip_prefix("revoke_")?.parse::<f64>().ok().map(|n| (n, f.median)))
        .collect();
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    if points.is_empty() {
        return Vec::new();
    }
    vec![Series { name: "revoke, per descendant".into(), points }]
}

const COLOURS: [RGBColor; 4] =
    [RGBColor(31, 119, 180), RGBColor(214, 39, 40), RGBColor(44, 160, 44), RGBColor(148, 103, 189)];

/// Draws `series` (x on a log scale) to `path`, y from 0. Nothing is written for no series.
pub fn draw(path: &Path, title: &str, x_label: &str, y_label: &str, series: &[Series]) -> Result<bool, String> {
    let all = || series.iter().flat_map(|s| s.points.iter());
    let (Some(x_min), Some(x_max)) = (all().map(|p| p.0).reduce(f64::min), all().map(|p| p.0).reduce(f64::max)) else {
        return Ok(false);
    };
    let y_max = all().map(|p| p.1).fold(0.0, f64::max) * 1.15 + 1.0;
    let x_range = (x_min.max(1.0) / 1.5)..(x_max * 1.5);
    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    let e = |e: DrawingAreaErrorKind<_>| format!("{}: {e:?}", path.display());
    root.fill(&WHITE).map_err(e)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(90)
        .build_cartesian_2d(x_range.log_scale(), 0.0..y_max)
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| crate::report::human(*y))
        .draw()
        .map_err(e)?;
    for (i, s) in series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        chart
            .draw_series(LineSeries::new(s.points.iter().copied(), colour.stroke_width(2)))
            .map_err(e)?
            .label(s.name.as_str())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], colour.stroke_width(2)));
        chart.draw_series(s.points.iter().map(|&p| Circle::new(p, 4, colour.filled()))).map_err(e)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(e)?;
    root.present().map_err(e)?;
    Ok(true)
}
