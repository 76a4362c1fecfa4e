//! The MIM catalog of the modules in use: `<module dir>/mim/<module file stem>.json` of each, loaded after every
//! (re)load of the modules.

use std::path::{Path, PathBuf};

use crate::manager::ModulesManager;

/// The MIM of each module in use: `<module dir>/mim/<file stem>.json` for a module in one of `module_dirs`.
/// A module without one is served unchecked; an unreadable or invalid MIM is logged and skipped.
pub(super) fn load(manager: &ModulesManager, module_dirs: &[PathBuf]) -> osconfig_mim::Catalog {
    let mut catalog = osconfig_mim::Catalog::default();
    for report in manager.reports() {
        let Some(path) = mim_path(&report.path, module_dirs) else { continue };
        if !path.exists() {
            log::info!("module {}: no MIM at {}; its payloads are not checked", report.name, path.display());
            continue;
        }
        match osconfig_mim::Mim::load(&path) {
            Ok(mim) => {
                log::info!("module {}: MIM {} checks components {:?}", report.name, path.display(), mim.components());
                catalog.add(mim);
            }
            Err(e) => log::error!("module {}: {e}; its payloads are not checked", report.name),
        }
    }
    catalog
}

/// `<dir>/mim/<stem>.json` for the module file `<dir>/<stem>.so`.
fn mim_path(module: &Path, module_dirs: &[PathBuf]) -> Option<PathBuf> {
    let dir = module.parent()?;
    if !module_dirs.iter().any(|d| d == dir) {
        return None;
    }
    Some(dir.join("mim").join(format!("{}.json", module.file_stem()?.to_string_lossy())))
}
