//! `RUN --mount=type=tmpfs`: an empty in-memory filesystem at the target.

use super::MountSet;
use crate::exec::Tmpfs;
use crate::plan::TmpfsMount;
use crate::solve::SolveError;

/// `size=` in binary units (as `docker run --tmpfs`); a size the parser let
/// through but that reads as no size (e.g. `64mi`) leaves the tmpfs at the
/// kernel's default, as before sizes were typed.
pub(super) fn realise(mount: &TmpfsMount, set: &mut MountSet<'_>) -> Result<(), SolveError> {
    let size = mount.size.as_deref().and_then(|text| crate::size::binary_bytes(text).ok());
    set.tmpfs.push(Tmpfs { target: mount.target.clone(), size });
    Ok(())
}
