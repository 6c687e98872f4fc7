-- Website callback requests remember the widget's inbox, so the PBX rings
-- an agent of that inbox's team before dialling the visitor.
ALTER TABLE callback_requests ADD COLUMN inbox_id INTEGER REFERENCES inboxes(id) ON DELETE SET NULL;
