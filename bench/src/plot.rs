//! SVG plots with plotters: latency CDFs and bar charts.

use std::path::Path;

use plotters::prelude::*;

const COLORS: [RGBColor; 6] = [BLUE, RED, GREEN, MAGENTA, CYAN, BLACK];

/// One CDF line per series of sorted microsecond values; x is clipped a little
/// past p99 of the slowest series so the body of the distribution stays readable.
pub fn cdf(file: &Path, title: &str, series: &[(String, Vec<f64>)]) -> anyhow::Result<()> {
    let x_max = series
        .iter()
        .filter_map(|(_, v)| v.get((v.len() as f64 * 0.99) as usize).copied())
        .fold(1.0, f64::max)
        * 1.3;
    let root = SVGBackend::new(file, (900, 540)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..x_max, 0.0..1.0)?;
    chart.configure_mesh().x_desc("RTT (µs)").y_desc("fraction of requests").draw()?;
    for (i, (name, values)) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let n = values.len().max(1) as f64;
        let step = (values.len() / 2000).max(1);
        let points = values.iter().enumerate().step_by(step).map(|(j, v)| (*v, (j + 1) as f64 / n));
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))?
            .label(name.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
    }
    chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw()?;
    root.present()?;
    Ok(())
}

/// Horizontal-label bar chart of one value per name.
pub fn bars(file: &Path, title: &str, unit: &str, values: &[(String, f64)]) -> anyhow::Result<()> {
    let y_max = values.iter().map(|(_, v)| *v).fold(1.0, f64::max) * 1.1;
    let root = SVGBackend::new(file, (900, 540)).into_drawing_area();
    root.fill(&WHITE)?;
    let names: Vec<String> = values.iter().map(|(n, _)| n.clone()).collect();
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(60)
        .y_label_area_size(80)
        .build_cartesian_2d((0..values.len()).into_segmented(), 0.0..y_max)?;
    chart
        .configure_mesh()
        .y_desc(unit)
        .x_label_formatter(&|x| match x {
            SegmentValue::CenterOf(i) => names.get(*i).cloned().unwrap_or_default(),
            _ => String::new(),
        })
        .draw()?;
    chart.draw_series(values.iter().enumerate().map(|(i, (_, v))| {
        let color = COLORS[i % COLORS.len()];
        Rectangle::new(
            [(SegmentValue::Exact(i), 0.0), (SegmentValue::Exact(i + 1), *v)],
            color.filled(),
        )
    }))?;
    root.present()?;
    Ok(())
}
