//! Who may see what. One rule, used by REST queries, single-row reads and
//! the realtime hub alike, so a list and a live event never disagree.

use crate::events::ConversationScope;
use crate::ids::*;
use crate::model::Role;

/// A user acting inside one workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Viewer {
    pub workspace_id: WorkspaceId,
    pub user_id: UserId,
    pub role: Role,
    pub team_ids: Vec<TeamId>,
}

impl Viewer {
    /// Supervisors and admins see the whole workspace. An agent sees what is
    /// assigned to them, their teams' conversations, and conversations not
    /// routed to any team (the shared pool).
    pub fn can_see(&self, scope: &ConversationScope) -> bool {
        if self.role.at_least(Role::Supervisor) {
            return true;
        }
        if scope.assignee_id == Some(self.user_id) {
            return true;
        }
        match scope.team_id {
            None => true,
            Some(team) => self.team_ids.contains(&team),
        }
    }

    pub fn sees_all(&self) -> bool {
        self.role.at_least(Role::Supervisor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(team: Option<i64>, assignee: Option<i64>) -> ConversationScope {
        ConversationScope {
            conversation_id: ConversationId(1),
            inbox_id: InboxId(1),
            contact_id: ContactId(1),
            team_id: team.map(TeamId),
            assignee_id: assignee.map(UserId),
        }
    }

    fn agent(teams: &[i64]) -> Viewer {
        Viewer {
            workspace_id: WorkspaceId(1),
            user_id: UserId(7),
            role: Role::Agent,
            team_ids: teams.iter().copied().map(TeamId).collect(),
        }
    }

    #[test]
    fn agent_sees_pool_own_teams_and_own_assignments() {
        let a = agent(&[3]);
        assert!(a.can_see(&scope(None, None)));
        assert!(a.can_see(&scope(Some(3), Some(9))));
        assert!(a.can_see(&scope(Some(4), Some(7))));
        assert!(!a.can_see(&scope(Some(4), None)));
        assert!(!a.can_see(&scope(Some(4), Some(9))));
    }

    #[test]
    fn supervisor_sees_everything() {
        let mut s = agent(&[]);
        s.role = Role::Supervisor;
        assert!(s.can_see(&scope(Some(4), Some(9))));
    }
}
