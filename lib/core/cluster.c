/* cluster.c -- a batch's plan over a cluster's masters, and its replies
 * joined (cluster.h). */
#include "cluster.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The slot of cmd's keys, CC_SLOTS when it has none, or -1 when they
 * span slots; *split set when they do and cmd may be split. */
static int slot_of(const cc_cmd *cmd, bool *split)
{
    int first, count;
    cc_cmd_keys(cmd, &first, &count);
    *split = false;
    if (count == 0)
        return CC_SLOTS;
    unsigned slot = cc_key_slot(cmd->argv[first], cmd->argvlen[first]);
    for (int k = first + 1; k < first + count; k++)
        if (cc_key_slot(cmd->argv[k], cmd->argvlen[k]) != slot) {
            *split = cc_cmd_splits(cmd) != 0;
            return -1;
        }
    return (int)slot;
}

static cc_cluster_part *add_part(cc_cluster_plan *plan, size_t origin)
{
    if (plan->nparts == CC_CLUSTER_PARTS)
        return NULL;
    cc_cluster_part *p = &plan->parts[plan->nparts++];
    memset(p, 0, sizeof *p);
    p->origin = origin;
    p->node = -1;
    return p;
}

/* One part per slot of a split command's keys, each keeping the verb
 * and its keys in their order. */
static int split(const cc_cmd *cmd, size_t origin, cc_cluster_plan *plan)
{
    bool done[CC_CMD_ARGS] = {false};
    for (int k = 1; k < cmd->argc; k++) {
        if (done[k])
            continue;
        cc_cluster_part *p = add_part(plan, origin);
        if (p == NULL)
            return -1;
        p->slot = cc_key_slot(cmd->argv[k], cmd->argvlen[k]);
        cc_cmd_arg(&p->cmd, cmd->argv[0], cmd->argvlen[0]);
        for (int j = k; j < cmd->argc; j++)
            if (!done[j] && cc_key_slot(cmd->argv[j], cmd->argvlen[j]) == p->slot) {
                p->keys[p->cmd.argc - 1] = (unsigned char)j;
                cc_cmd_arg(&p->cmd, cmd->argv[j], cmd->argvlen[j]);
                done[j] = true;
            }
    }
    return 0;
}

int cc_cluster_make_plan(const cc_slot_map *m, size_t ncmd, const cc_cmd *cmds,
                         cc_cluster_plan *plan, char *why, size_t cap)
{
    plan->nparts = 0;
    for (size_t i = 0; i < ncmd; i++) {
        bool splits;
        int slot = slot_of(&cmds[i], &splits);
        if (slot < 0 && !splits) {
            snprintf(why, cap, "%.*s names keys of several slots", (int)cmds[i].argvlen[0],
                     cmds[i].argv[0]);
            return -1;
        }
        if (slot < 0) {
            if (split(&cmds[i], i, plan) < 0)
                goto too_many;
            continue;
        }
        cc_cluster_part *p = add_part(plan, i);
        if (p == NULL)
            goto too_many;
        p->cmd = cmds[i];
        p->slot = (unsigned)slot;
    }
    /* The node of each part; a keyless one takes its neighbour's. */
    for (size_t i = 0; i < plan->nparts; i++) {
        cc_cluster_part *p = &plan->parts[i];
        if (p->slot == CC_SLOTS)
            continue;
        if (m->slot[p->slot] == CC_SLOT_NONE) {
            snprintf(why, cap, "no master serves slot %u", p->slot);
            return -1;
        }
        p->node = m->slot[p->slot];
    }
    for (size_t i = 0; i < plan->nparts; i++) {
        if (plan->parts[i].node >= 0)
            continue;
        int node = -1;
        for (size_t j = i + 1; j < plan->nparts && node < 0; j++)
            node = plan->parts[j].node;
        for (size_t j = i; j-- > 0 && node < 0;)
            node = plan->parts[j].node;
        plan->parts[i].node = node >= 0 ? node : 0;    /* no key at all: any master */
    }
    if (m->nnodes == 0) {
        snprintf(why, cap, "no slot map");
        return -1;
    }
    return 0;
too_many:
    snprintf(why, cap, "more than %d commands in one batch", CC_CLUSTER_PARTS);
    return -1;
}

/* Frees the replies of origin's parts still held in parts. */
static void drop_parts(const cc_cluster_plan *plan, size_t origin, redisReply **parts)
{
    for (size_t i = 0; i < plan->nparts; i++)
        if (plan->parts[i].origin == origin && parts[i] != NULL) {
            freeReplyObject(parts[i]);
            parts[i] = NULL;
        }
}

/* A split command's reply when its parts answered arrays, one value per
 * key (checked): each value to where its key was. */
static redisReply *join_arrays(const cc_cluster_plan *plan, size_t origin, redisReply **parts,
                               size_t nkeys)
{
    redisReply *joined = calloc(1, sizeof *joined);
    redisReply **element = calloc(nkeys, sizeof *element);
    if (joined == NULL || element == NULL) {
        free(joined);
        free(element);
        return NULL;
    }
    for (size_t i = 0; i < plan->nparts; i++) {
        const cc_cluster_part *p = &plan->parts[i];
        if (p->origin != origin)
            continue;
        for (size_t e = 0; e < parts[i]->elements; e++) {
            element[p->keys[e] - 1] = parts[i]->element[e];
            parts[i]->element[e] = NULL;
        }
    }
    joined->type = REDIS_REPLY_ARRAY;
    joined->element = element;
    joined->elements = nkeys;
    return joined;
}

/* The reply of a split command from its parts' replies (taken over). */
static redisReply *join_split(const cc_cluster_plan *plan, size_t origin, redisReply **parts)
{
    redisReply *joined = NULL, *error = NULL;
    size_t nkeys = 0;
    bool array = true;
    long long sum = 0;
    for (size_t i = 0; i < plan->nparts; i++) {
        if (plan->parts[i].origin != origin)
            continue;
        /* An array of another length than its keys is not Redis's. */
        if (parts[i] == NULL || (parts[i]->type == REDIS_REPLY_ARRAY &&
                                 parts[i]->elements + 1 != (size_t)plan->parts[i].cmd.argc)) {
            drop_parts(plan, origin, parts);
            return NULL;
        }
        nkeys += (size_t)plan->parts[i].cmd.argc - 1;
        if (parts[i]->type == REDIS_REPLY_ERROR && error == NULL)
            error = parts[i];
        if (parts[i]->type != REDIS_REPLY_ARRAY)
            array = false;
        if (parts[i]->type == REDIS_REPLY_INTEGER)
            sum += parts[i]->integer;
    }
    if (error != NULL) {
        /* Refused somewhere: the command was not done, and says why. */
        for (size_t i = 0; i < plan->nparts; i++)
            if (parts[i] == error)
                parts[i] = NULL;
        drop_parts(plan, origin, parts);
        return error;
    }
    if (array) {
        joined = join_arrays(plan, origin, parts, nkeys);
    } else if ((joined = calloc(1, sizeof *joined)) != NULL) {
        joined->type = REDIS_REPLY_INTEGER;
        joined->integer = sum;
    }
    drop_parts(plan, origin, parts);
    return joined;
}

int cc_cluster_join(const cc_cluster_plan *plan, size_t ncmd, redisReply **part_replies,
                    redisReply **replies)
{
    int rc = 0;
    for (size_t c = 0; c < ncmd; c++)
        replies[c] = NULL;
    for (size_t i = 0; i < plan->nparts; i++) {
        size_t origin = plan->parts[i].origin;
        if (part_replies[i] == NULL)
            continue;        /* taken by a split command already joined */
        bool whole = (i + 1 == plan->nparts || plan->parts[i + 1].origin != origin) &&
                     (i == 0 || plan->parts[i - 1].origin != origin);
        if (whole) {
            replies[origin] = part_replies[i];
            part_replies[i] = NULL;
        } else if ((replies[origin] = join_split(plan, origin, part_replies)) == NULL) {
            rc = -1;
        }
    }
    if (rc < 0)
        for (size_t c = 0; c < ncmd; c++)
            if (replies[c] != NULL) {
                freeReplyObject(replies[c]);
                replies[c] = NULL;
            }
    return rc;
}
