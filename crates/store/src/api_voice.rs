// Public methods for voice (SPEC §3.6): settings, extensions, numbers,
// trunks, IVR menus, calls and callback requests. Part of `api.rs`
// (included at its end). See `ops_voice.rs` for what each one guarantees.

use crate::model_voice::*;
use switchboard_core::voice::{
    Call, CallDisposition, CallMedia, CallbackRequest, CallbackRequestStatus, CallbackStatus, IvrMenuSpec, TrunkRegistration, VoiceSettings,
};

impl Backend {
    pub async fn get_voice_settings(&self, ws: WorkspaceId) -> Result<VoiceSettings> {
        ops::get_voice_settings(&mut *self.read().await?, ws).await
    }
    pub async fn set_voice_settings(&self, ws: WorkspaceId, settings: VoiceSettings, now: Timestamp) -> Result<VoiceSettings> {
        self.write(move |c| Box::pin(async move { ops::set_voice_settings(c, ws, &settings, now).await })).await
    }
    pub async fn find_workspace_by_sip_domain(&self, domain: &str) -> Result<Option<WorkspaceId>> {
        ops::find_workspace_by_sip_domain(&mut *self.read().await?, domain).await
    }

    pub async fn create_sip_extension(&self, ws: WorkspaceId, new: NewSipExtension, now: Timestamp) -> Result<SipExtension> {
        self.write(move |c| Box::pin(async move { ops::create_sip_extension(c, ws, &new, now).await })).await
    }
    pub async fn list_sip_extensions(&self, ws: WorkspaceId) -> Result<Vec<SipExtension>> {
        ops::list_sip_extensions(&mut *self.read().await?, ws).await
    }
    pub async fn get_sip_extension(&self, ws: WorkspaceId, id: SipExtensionId) -> Result<Option<SipExtension>> {
        ops::get_sip_extension(&mut *self.read().await?, ws, id).await
    }
    pub async fn update_sip_extension(&self, ws: WorkspaceId, id: SipExtensionId, patch: SipExtensionPatch) -> Result<SipExtension> {
        self.write(move |c| Box::pin(async move { ops::update_sip_extension(c, ws, id, &patch).await })).await
    }
    pub async fn delete_sip_extension(&self, ws: WorkspaceId, id: SipExtensionId) -> Result<()> {
        self.write(move |c| Box::pin(async move { ops::delete_sip_extension(c, ws, id).await })).await
    }
    pub async fn sip_credentials(&self, domain: &str, extension: &str) -> Result<Option<SipCredentials>> {
        ops::sip_credentials(&mut *self.read().await?, domain, extension).await
    }
    pub async fn workspace_sip_credentials(&self, ws: WorkspaceId, extension: &str) -> Result<Option<SipCredentials>> {
        ops::workspace_sip_credentials(&mut *self.read().await?, ws, extension).await
    }
    pub async fn extension_of_user(&self, ws: WorkspaceId, user: UserId) -> Result<Option<SipExtension>> {
        ops::extension_of_user(&mut *self.read().await?, ws, user).await
    }

    pub async fn create_voice_number(&self, ws: WorkspaceId, new: NewVoiceNumber, now: Timestamp) -> Result<VoiceNumber> {
        self.write(move |c| Box::pin(async move { ops::create_voice_number(c, ws, &new, now).await })).await
    }
    pub async fn list_voice_numbers(&self, ws: WorkspaceId) -> Result<Vec<VoiceNumber>> {
        ops::list_voice_numbers(&mut *self.read().await?, ws).await
    }
    pub async fn get_voice_number(&self, ws: WorkspaceId, id: VoiceNumberId) -> Result<Option<VoiceNumber>> {
        ops::get_voice_number(&mut *self.read().await?, ws, id).await
    }
    pub async fn update_voice_number(&self, ws: WorkspaceId, id: VoiceNumberId, patch: VoiceNumberPatch) -> Result<VoiceNumber> {
        self.write(move |c| Box::pin(async move { ops::update_voice_number(c, ws, id, &patch).await })).await
    }
    pub async fn delete_voice_number(&self, ws: WorkspaceId, id: VoiceNumberId) -> Result<()> {
        self.write(move |c| Box::pin(async move { ops::delete_voice_number(c, ws, id).await })).await
    }
    pub async fn create_voice_inbox(&self, ws: WorkspaceId, new: NewInbox, numbers: Vec<String>, now: Timestamp) -> Result<Inbox> {
        self.write(move |c| Box::pin(async move { ops::create_voice_inbox(c, ws, &new, &numbers, now).await })).await
    }
    pub async fn lookup_number(&self, number: &str) -> Result<Option<NumberRoute>> {
        ops::lookup_number(&mut *self.read().await?, number).await
    }

    pub async fn create_sip_trunk(&self, ws: WorkspaceId, new: NewSipTrunk, now: Timestamp) -> Result<SipTrunk> {
        self.write(move |c| Box::pin(async move { ops::create_sip_trunk(c, ws, &new, now).await })).await
    }
    pub async fn list_sip_trunks(&self, ws: WorkspaceId) -> Result<Vec<SipTrunk>> {
        ops::list_sip_trunks(&mut *self.read().await?, ws).await
    }
    pub async fn list_registering_trunks(&self) -> Result<Vec<(WorkspaceId, SipTrunk)>> {
        ops::list_registering_trunks(&mut *self.read().await?).await
    }
    pub async fn set_sip_trunk_registration(&self, ws: WorkspaceId, id: SipTrunkId, reg: Option<TrunkRegistration>) -> Result<()> {
        self.write(move |c| Box::pin(async move { ops::set_sip_trunk_registration(c, ws, id, reg.as_ref()).await })).await
    }
    pub async fn get_sip_trunk(&self, ws: WorkspaceId, id: SipTrunkId) -> Result<Option<SipTrunk>> {
        ops::get_sip_trunk(&mut *self.read().await?, ws, id).await
    }
    pub async fn update_sip_trunk(&self, ws: WorkspaceId, id: SipTrunkId, patch: SipTrunkPatch, now: Timestamp) -> Result<SipTrunk> {
        self.write(move |c| Box::pin(async move { ops::update_sip_trunk(c, ws, id, &patch, now).await })).await
    }
    pub async fn delete_sip_trunk(&self, ws: WorkspaceId, id: SipTrunkId) -> Result<()> {
        self.write(move |c| Box::pin(async move { ops::delete_sip_trunk(c, ws, id).await })).await
    }

    pub async fn create_ivr_menu(&self, ws: WorkspaceId, spec: IvrMenuSpec, now: Timestamp) -> Result<IvrMenu> {
        self.write(move |c| Box::pin(async move { ops::create_ivr_menu(c, ws, &spec, now).await })).await
    }
    pub async fn list_ivr_menus(&self, ws: WorkspaceId) -> Result<Vec<IvrMenu>> {
        ops::list_ivr_menus(&mut *self.read().await?, ws).await
    }
    pub async fn get_ivr_menu(&self, ws: WorkspaceId, id: IvrMenuId) -> Result<Option<IvrMenu>> {
        ops::get_ivr_menu(&mut *self.read().await?, ws, id).await
    }
    pub async fn update_ivr_menu(&self, ws: WorkspaceId, id: IvrMenuId, spec: IvrMenuSpec, now: Timestamp) -> Result<IvrMenu> {
        self.write(move |c| Box::pin(async move { ops::update_ivr_menu(c, ws, id, &spec, now).await })).await
    }
    pub async fn delete_ivr_menu(&self, ws: WorkspaceId, id: IvrMenuId) -> Result<()> {
        self.write(move |c| Box::pin(async move { ops::delete_ivr_menu(c, ws, id).await })).await
    }

    pub async fn create_call(&self, ws: WorkspaceId, new: NewCall, now: Timestamp) -> Result<Written<Call>> {
        self.write(move |c| Box::pin(async move { ops::create_call(c, ws, &new, now).await })).await
    }
    pub async fn get_call(&self, ws: WorkspaceId, id: CallId) -> Result<Option<Call>> {
        ops::get_call(&mut *self.read().await?, ws, id).await
    }
    pub async fn call_by_sip_id(&self, ws: WorkspaceId, sip_call_id: &str) -> Result<Option<Call>> {
        ops::call_by_sip_id(&mut *self.read().await?, ws, sip_call_id).await
    }
    pub async fn answer_call(&self, ws: WorkspaceId, id: CallId, agent: Option<UserId>, now: Timestamp) -> Result<Written<Call>> {
        self.write(move |c| Box::pin(async move { ops::answer_call(c, ws, id, agent, now).await })).await
    }
    pub async fn set_call_team(&self, ws: WorkspaceId, id: CallId, team: Option<TeamId>, now: Timestamp) -> Result<Written<Call>> {
        self.write(move |c| Box::pin(async move { ops::set_call_team(c, ws, id, team, now).await })).await
    }
    pub async fn end_call(&self, ws: WorkspaceId, id: CallId, disposition: CallDisposition, now: Timestamp) -> Result<Written<Call>> {
        self.write(move |c| Box::pin(async move { ops::end_call(c, ws, id, disposition, now).await })).await
    }
    pub async fn attach_call_media(
        &self,
        ws: WorkspaceId,
        id: CallId,
        kind: CallMedia,
        file: NewCallFile,
        now: Timestamp,
    ) -> Result<Written<Call>> {
        self.write(move |c| Box::pin(async move { ops::attach_call_media(c, ws, id, kind, &file, now).await })).await
    }
    pub async fn prompt_file(&self, ws: WorkspaceId, id: AttachmentId) -> Result<Option<StoredFile>> {
        ops::prompt_file(&mut *self.read().await?, ws, id).await
    }
    pub async fn call_media_file(&self, ws: WorkspaceId, id: CallId, kind: CallMedia) -> Result<Option<StoredFile>> {
        ops::call_media_file(&mut *self.read().await?, ws, id, kind).await
    }
    pub async fn list_calls(&self, viewer: &Viewer, filter: &CallFilter, page: Page) -> Result<Paged<Call>> {
        ops::list_calls(&mut *self.read().await?, viewer, filter, page).await
    }
    pub async fn missed_calls(&self, viewer: &Viewer, status: Option<CallbackStatus>, page: Page) -> Result<Paged<Call>> {
        ops::missed_calls(&mut *self.read().await?, viewer, status, page).await
    }
    pub async fn set_callback_status(&self, ws: WorkspaceId, id: CallId, status: CallbackStatus, now: Timestamp) -> Result<Written<Call>> {
        self.write(move |c| Box::pin(async move { ops::set_callback_status(c, ws, id, status, now).await })).await
    }

    pub async fn create_callback_request(
        &self,
        ws: WorkspaceId,
        new: NewCallbackRequest,
        now: Timestamp,
    ) -> Result<Written<CallbackRequest>> {
        self.write(move |c| Box::pin(async move { ops::create_callback_request(c, ws, &new, now).await })).await
    }
    pub async fn list_callback_requests(
        &self,
        ws: WorkspaceId,
        status: Option<CallbackRequestStatus>,
        page: Page,
    ) -> Result<Paged<CallbackRequest>> {
        ops::list_callback_requests(&mut *self.read().await?, ws, status, page).await
    }
    pub async fn set_callback_request_status(
        &self,
        ws: WorkspaceId,
        id: CallbackRequestId,
        status: CallbackRequestStatus,
        call: Option<CallId>,
    ) -> Result<CallbackRequest> {
        self.write(move |c| Box::pin(async move { ops::set_callback_request_status(c, ws, id, status, call).await })).await
    }
}
