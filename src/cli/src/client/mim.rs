//! The MIMs installed on the device (`<root>/usr/lib/osconfig/mim/<module>.json`), to check desired payloads
//! before they are sent, so that a violation is quoted to the user instead of coming back as errno 22.

use std::path::{Path, PathBuf};

use osconfig_mim::{Catalog, Mim};

/// The installed MIMs, as one catalog.
#[derive(Debug, Default)]
pub struct LocalMims {
    catalog: Catalog,
    /// MIM files that could not be read or parsed, with the reason; they check nothing.
    pub skipped: Vec<(PathBuf, String)>,
}

impl LocalMims {
    /// Loads every `*.json` in `dir`, in name order. A missing directory gives an empty catalog (nothing is
    /// checked); a file that cannot be read or is not a MIM is skipped (listed in [`LocalMims::skipped`]).
    pub fn load(dir: &Path) -> LocalMims {
        let mut mims = LocalMims::default();
        let Ok(entries) = std::fs::read_dir(dir) else {
            return mims;
        };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        paths.sort();
        for path in paths {
            match Mim::load(&path) {
                Ok(mim) => mims.catalog.add(mim),
                Err(e) => mims.skipped.push((path, e.to_string())),
            }
        }
        mims
    }

    /// Checks one desired object's payload (exact JSON text); the violation as one line naming the object.
    pub fn check(&self, component: &str, object: &str, payload: &[u8]) -> Result<(), String> {
        self.catalog.check_desired(component, object, payload).map_err(|v| v.to_string())
    }

    /// The objects the installed MIM of `component` names, reported ones first; `None` without a MIM.
    pub fn objects(&self, component: &str) -> Option<Vec<&str>> {
        let mut objects = self.catalog.reported_objects(component)?;
        objects.extend(self.catalog.desired_objects(component)?);
        Some(objects)
    }

    /// Warns on stderr about each skipped MIM file (its objects go unchecked).
    pub fn warn_skipped(&self) {
        for (path, reason) in &self.skipped {
            eprintln!("osconfigctl: warning: MIM {} skipped, its objects are not checked: {reason}", path.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTNAME_MIM: &str = r#"{"name":"HostNameModel","type":"mimModel","contents":[
        {"name":"HostName","type":"mimComponent","contents":[
         {"name":"desiredName","type":"mimObject","desired":true,"schema":"string"},
         {"name":"name","type":"mimObject","desired":false,"schema":"string"}]}]}"#;

    fn scratch(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("osconfigctl-mim-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn test_load_checks_and_skips_bad_files() {
        let dir = scratch("load");
        std::fs::write(dir.join("hostname.json"), HOSTNAME_MIM).unwrap();
        std::fs::write(dir.join("broken.json"), "{").unwrap();
        std::fs::write(dir.join("notes.txt"), "not a MIM").unwrap();
        let mims = LocalMims::load(&dir);
        assert_eq!(mims.skipped.len(), 1, "{:?}", mims.skipped);
        assert!(mims.skipped[0].0.ends_with("broken.json"));
        assert_eq!(mims.check("HostName", "desiredName", br#""box""#), Ok(()));
        assert_eq!(mims.objects("HostName"), Some(vec!["name", "desiredName"]));
        assert_eq!(mims.objects("Other"), None);
        let violation = mims.check("HostName", "desiredName", b"42").unwrap_err();
        assert!(violation.starts_with("HostName.desiredName: "), "{violation}");
        assert!(!violation.contains('\n'));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn test_load_missing_dir_checks_nothing() {
        let mims = LocalMims::load(Path::new("/nonexistent/osconfigctl/mim"));
        assert!(mims.skipped.is_empty());
        assert_eq!(mims.check("HostName", "desiredName", b"42"), Ok(()));
    }
}
