//! Text tables (`comfy-table`, no borders or ANSI); too wide ones go on their side or records.

pub use comfy_table::CellAlignment as Align;
use comfy_table::{ContentArrangement, presets};

/// The width to fit: `COLUMNS` (also for pipes), else the terminal's, else none.
pub fn output_width() -> Option<usize> {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|n| *n > 0)
        .or_else(|| {
            console::Term::stdout()
                .size_checked()
                .map(|(_, cols)| usize::from(cols))
        })
}

/// A cell of an optional value: blank when absent.
pub fn cell<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// A column of [`Table::of`]: header, alignment, and the cell of a row.
pub type Column<T> = (&'static str, Align, fn(&T) -> String);

/// A table being built.
#[derive(Debug, Clone)]
pub struct Table {
    headers: Vec<String>,
    align: Vec<Align>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these columns.
    pub fn new(columns: &[(&str, Align)]) -> Self {
        Self {
            headers: columns.iter().map(|(h, _)| (*h).to_owned()).collect(),
            align: columns.iter().map(|(_, a)| *a).collect(),
            rows: Vec::new(),
        }
    }

    /// A table with a row per item of `rows`, its cells as `columns` say.
    pub fn of<'a, T: 'a>(columns: &[Column<T>], rows: impl IntoIterator<Item = &'a T>) -> Self {
        let headers: Vec<(&str, Align)> = columns.iter().map(|(h, a, _)| (*h, *a)).collect();
        let mut t = Table::new(&headers);
        for r in rows {
            t.row(columns.iter().map(|(_, _, cell)| cell(r)));
        }
        t
    }

    /// Appends a row; missing cells are blank and extra cells are dropped.
    pub fn row<I, S>(&mut self, cells: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut r: Vec<String> = cells.into_iter().map(Into::into).collect();
        r.resize(self.headers.len(), String::new());
        self.rows.push(r);
    }

    /// Renders within `width`: as [`Table::render`], else on its side, else as records.
    pub fn render_within(&self, width: Option<usize>) -> String {
        let plain = self.render();
        let Some(width) = width else { return plain };
        let fits = |text: &str| text.lines().all(|l| l.chars().count() <= width);
        if fits(&plain) {
            return plain;
        }
        let side = self.sideways().render();
        if fits(&side) {
            return side;
        }
        let mut out = String::new();
        for (i, r) in self.rows.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            for (h, c) in self.headers.iter().zip(r) {
                out.push_str(format!("{h}: {c}").trim_end());
                out.push('\n');
            }
        }
        out
    }

    /// The table turned on its side: the first column's cells become the headers.
    fn sideways(&self) -> Table {
        let mut cols: Vec<(&str, Align)> = vec![(self.headers[0].as_str(), Align::Left)];
        cols.extend(self.rows.iter().map(|r| (r[0].as_str(), Align::Right)));
        let mut t = Table::new(&cols);
        for (i, h) in self.headers.iter().enumerate().skip(1) {
            let mut row = vec![h.clone()];
            row.extend(self.rows.iter().map(|r| r[i].clone()));
            t.row(row);
        }
        t
    }

    /// Renders with two spaces between columns and no trailing spaces.
    pub fn render(&self) -> String {
        let mut t = comfy_table::Table::new();
        t.load_style(presets::NOTHING)
            .set_content_arrangement(ContentArrangement::Disabled)
            .set_header(self.headers.clone())
            .add_rows(self.rows.clone());
        let last = self.headers.len().saturating_sub(1);
        for (i, (col, align)) in t.column_iter_mut().zip(&self.align).enumerate() {
            col.set_padding((0, if i < last { 2 } else { 0 }));
            col.set_cell_alignment(*align);
        }
        t.lines().map(|l| l.trim_end().to_owned() + "\n").collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_and_aligns() {
        let mut t = Table::new(&[
            ("NAME", Align::Left),
            ("N", Align::Right),
            ("NOTE", Align::Left),
        ]);
        t.row(["binance", "6/6", "buffer saved us"]);
        t.row(["bybit", "4/4"]);
        assert_eq!(
            t.render(),
            "NAME       N  NOTE\nbinance  6/6  buffer saved us\nbybit    4/4\n"
        );
    }

    #[test]
    fn a_wide_table_is_turned_or_split_to_fit() {
        let mut t = Table::new(&[
            ("NAME", Align::Left),
            ("EXECUTED_POSITIONS", Align::Right),
            ("A_LONG_HEADER_FOR_NOTES", Align::Left),
        ]);
        t.row(["binance", "6/6", "buffer saved us"]);
        t.row(["bybit", "4/4", ""]);
        assert_eq!(t.render_within(None), t.render());
        assert_eq!(t.render_within(Some(200)), t.render());
        let side = t.render_within(Some(50));
        assert!(side.lines().all(|l| l.chars().count() <= 50), "{side}");
        assert!(side.starts_with("NAME"), "{side}");
        assert!(side.contains("EXECUTED_POSITIONS"), "{side}");
        let records = t.render_within(Some(40));
        assert!(
            records.lines().all(|l| l.chars().count() <= 40),
            "{records}"
        );
        assert!(records.contains("NAME: bybit\n"), "{records}");
    }
}
