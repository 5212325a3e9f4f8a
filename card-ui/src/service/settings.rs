//! The Settings page's operations on the wallet itself: its password, its phrase, importing another, burning
//! it, and the node it talks to.

use super::*;

/// Settings: the wallet itself.
impl Service {
    pub fn is_encrypted(&self) -> bool {
        Wallet::is_encrypted(self.kv.as_ref(), WALLET)
            .ok()
            .flatten()
            .unwrap_or(false)
    }

    /// The recovery phrase, after the password when one is set.
    pub fn phrase(&self, password: &str) -> Result<String, String> {
        let c = self.connected().ok_or("the card is not open")?;
        if self.is_encrypted() {
            c.wallet
                .check_password(self.kv.as_ref(), password)
                .map_err(|e| explain(&e))?;
        }
        Ok(c.wallet.phrase().to_string())
    }

    pub fn set_password(&self, password: &str) -> Result<(), String> {
        let c = self.connected().ok_or("the card is not open")?;
        c.wallet
            .set_password(self.kv.as_ref(), password)
            .map_err(|e| explain(&e))?;
        self.dispatch.dispatch(Action::Encrypted(true));
        Ok(())
    }

    /// Replaces the card's wallet with the one `phrase` restores, then starts again with it.
    pub fn import(&self, phrase: &str, password: Option<&str>) -> Result<(), String> {
        Wallet::import(self.kv.as_ref(), WALLET, phrase, password, true)
            .map_err(|e| explain(&e))?;
        if let Some(c) = self.connected.borrow_mut().take() {
            c.client.close();
        }
        web::reload();
        Ok(())
    }

    /// Forgets the wallet and its channel copy; the card starts over with a new wallet.
    pub fn burn(&self) -> Result<(), String> {
        if let Some(c) = self.connected.borrow_mut().take() {
            c.client.close();
            let key = KvStore::key_for(c.wallet.address(), &self.node_url);
            self.kv.remove(&key).map_err(|e| explain(&e))?;
        }
        Wallet::forget(self.kv.as_ref(), WALLET).map_err(|e| explain(&e))?;
        web::reload();
        Ok(())
    }

    /// Uses another node from the next start.
    pub fn set_node_url(&self, url: &str) -> Result<(), String> {
        let url = url.trim().trim_end_matches('/');
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err("A node URL starts with http:// or https://".into());
        }
        self.kv.set(NODE_URL_KEY, url).map_err(|e| explain(&e))?;
        web::reload();
        Ok(())
    }
}
