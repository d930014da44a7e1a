//! The sample waves and scenarios of `examples/`, embedded to work from any directory.

/// `examples/waves/worked-example.json`: docs/design.md §1's worked example as a publishable wave.
pub const WAVE_WORKED_EXAMPLE: &str = include_str!("../../examples/waves/worked-example.json");

/// `examples/waves/topup.json`: a wave in which binance needs a top-up.
pub const WAVE_TOPUP: &str = include_str!("../../examples/waves/topup.json");

/// The sample waves `demo` publishes, in order, with their file names.
pub const DEMO_WAVES: [(&str, &str); 2] = [
    ("examples/waves/worked-example.json", WAVE_WORKED_EXAMPLE),
    ("examples/waves/topup.json", WAVE_TOPUP),
];

/// The replay scenarios shipped in `examples/replay/`.
pub const SCENARIOS: [(&str, &str); 3] = [
    (
        "examples/replay/worked-example.json",
        include_str!("../../examples/replay/worked-example.json"),
    ),
    (
        "examples/replay/topup.json",
        include_str!("../../examples/replay/topup.json"),
    ),
    (
        "examples/replay/no-params.json",
        include_str!("../../examples/replay/no-params.json"),
    ),
];
