//! `esprit status`: the typed snapshot the control socket answers with
//! ([`model`], published as `docs/status.schema.json`), its rendering for
//! people ([`render`]), and the counters' conversion from the engine's
//! stats structs ([`counters`]), merged over the packet workers ([`merge`]).

pub mod counters;
pub mod merge;
pub mod model;
pub mod render;

pub use model::{Status, SCHEMA_VERSION};
pub use render::{render_brief, render_full, render_ike, render_short};
