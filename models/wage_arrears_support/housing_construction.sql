-- Housing and construction: the flagged projects as registered (工程审批信息): developer, region
-- and status. Asked only about the projects labour inspection flagged (candidates).
SELECT
    project_code,
    developer_uscc,
    region,
    CASE WHEN status IN ('在建', '竣工', '停工') THEN status ELSE '其他' END AS project_status
FROM projects
WHERE project_code IS NOT NULL
