//! Who may see and write what: a user's role and jurisdiction (a township or the whole
//! district) decide which records a device receives and which it may change; protected
//! companions go only to supervisors and to the device that wrote them.

use xuncha_protocol::Role;

use crate::storage::{Device, User, Visibility};

/// The jurisdiction that covers every township.
pub const DISTRICT: &str = "district";

/// What a device may read.
pub fn visibility(device: &Device, user: &User) -> Visibility {
    Visibility {
        device_id: device.id.clone(),
        township: (user.jurisdiction != DISTRICT).then(|| user.jurisdiction.clone()),
        all_protected: user.role == Role::Supervisor,
    }
}

/// Whether `user` may write a record that is (and was, before the upload) in `townships`.
pub fn may_write(user: &User, townships: &[&str]) -> bool {
    if user.role == Role::Administrator {
        return false;
    }
    user.jurisdiction == DISTRICT || townships.iter().all(|t| *t == user.jurisdiction)
}

/// Whether a jurisdiction is well formed: `district` or a 12-digit township code.
pub fn valid_jurisdiction(text: &str) -> bool {
    text == DISTRICT || (text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit()) && text.ends_with("000"))
}
