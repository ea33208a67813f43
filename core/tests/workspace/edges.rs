//! Relationships: creating, deleting and restoring edges, their properties,
//! and the refusals of each.

use openprod_core::ids::{EdgeId, EntityId};
use openprod_core::names::EdgeType;
use openprod_core::op::OpPayload;
use openprod_core::value::Value;
use openprod_core::workspace::EditError;

use crate::support::*;

/// An attendee, an event and an `attends` edge between them.
fn attendance(show: &mut Show) -> (EntityId, EntityId, EdgeId) {
    let ophelia = show.attendee(JANE, "Ophelia");
    let mad_scene = show.event(JANE, "Mad scene");
    let (edge, _) =
        show.edit(JANE, |change| change.create_edge(&attends(), ophelia, mad_scene, &[("role", text("Ophelia"))]));
    (ophelia, mad_scene, edge)
}

#[test]
fn creating_a_relationship_links_two_records_with_its_properties() {
    let mut show = Show::new();
    let ophelia = show.attendee(JANE, "Ophelia");
    let mad_scene = show.event(JANE, "Mad scene");
    let (edge, bundle) = show.edit(JANE, |change| {
        change.create_edge(
            &attends(),
            ophelia,
            mad_scene,
            &[("role", text("Ophelia")), ("confirmed", Value::Boolean(true))],
        )
    });

    match payloads(&bundle).as_slice() {
        [OpPayload::CreateEdge { edge: id, edge_type, source, target, properties }] => {
            assert_eq!((*id, edge_type, *source, *target), (edge, &attends(), ophelia, mad_scene));
            assert_eq!(properties.len(), 2);
        }
        other => panic!("one CreateEdge expected, got {other:?}"),
    }
    let state = show.state(JANE);
    let view = state.edge(edge).expect("the edge is live");
    assert_eq!((view.edge_type, view.source, view.target), (attends(), ophelia, mad_scene));
    assert_eq!(state.edge_property(edge, "role").value, Some(text("Ophelia")));
    assert_eq!(state.edge_property(edge, "confirmed").value, Some(Value::Boolean(true)));
    assert_eq!(state.edges_of(ophelia).len(), 1);
    let outgoing: Vec<_> = state.edges_from(ophelia).into_iter().map(|edge| edge.id).collect();
    let incoming: Vec<_> = state.edges_to(mad_scene).into_iter().map(|edge| edge.id).collect();
    assert_eq!((outgoing, incoming), (vec![edge], vec![edge]));
    assert!(state.edges_to(ophelia).is_empty() && state.edges_from(mad_scene).is_empty());
    assert_eq!(state.edges_of(mad_scene).len(), 1, "both ends see the edge");
}

#[test]
fn two_relationships_of_one_type_between_the_same_records_are_both_kept() {
    let mut show = Show::new();
    let (ophelia, mad_scene, first) = attendance(&mut show);
    let (second, _) =
        show.edit(JANE, |change| change.create_edge(&attends(), ophelia, mad_scene, &[("role", text("Understudy"))]));
    assert_ne!(first, second);
    assert_eq!(show.state(JANE).edges_of(ophelia).len(), 2);
}

#[test]
fn creating_a_relationship_of_an_unknown_type_is_refused() {
    let mut show = Show::new();
    let ophelia = show.attendee(JANE, "Ophelia");
    let mad_scene = show.event(JANE, "Mad scene");
    let unknown = EdgeType::new("scheduling", "haunts");
    let error = show.refuse(JANE, |change| change.create_edge(&unknown, ophelia, mad_scene, &[]));
    assert_eq!(error, EditError::UnknownEdgeType(unknown));
    let of_unknown_module = EdgeType::new("casting", "assigned_to");
    let error = show.refuse(JANE, |change| change.create_edge(&of_unknown_module, ophelia, mad_scene, &[]));
    assert_eq!(error, EditError::UnknownEdgeType(of_unknown_module));
}

#[test]
fn creating_a_relationship_with_an_undeclared_property_is_refused() {
    let mut show = Show::new();
    let ophelia = show.attendee(JANE, "Ophelia");
    let mad_scene = show.event(JANE, "Mad scene");
    let error =
        show.refuse(JANE, |change| change.create_edge(&attends(), ophelia, mad_scene, &[("entrance", text("SR"))]));
    assert_eq!(error, EditError::UnknownEdgeProperty { edge_type: attends(), property: "entrance".into() });
}

#[test]
fn creating_a_relationship_with_a_property_of_the_wrong_type_is_refused() {
    let mut show = Show::new();
    let ophelia = show.attendee(JANE, "Ophelia");
    let mad_scene = show.event(JANE, "Mad scene");
    let error =
        show.refuse(JANE, |change| change.create_edge(&attends(), ophelia, mad_scene, &[("confirmed", text("yes"))]));
    match error {
        EditError::WrongValue(problem) => assert!(problem.message.contains("confirmed"), "{}", problem.message),
        other => panic!("expected WrongValue, got {other:?}"),
    }
}

#[test]
fn creating_a_relationship_to_a_deleted_or_unknown_record_is_refused() {
    let mut show = Show::new();
    let ophelia = show.attendee(JANE, "Ophelia");
    let mad_scene = show.event(JANE, "Mad scene");
    show.edit(JANE, |change| change.delete_record(mad_scene));
    let error = show.refuse(JANE, |change| change.create_edge(&attends(), ophelia, mad_scene, &[]));
    assert_eq!(error, EditError::RecordDeleted(mad_scene));
    let error = show.refuse(JANE, |change| change.create_edge(&attends(), mad_scene, ophelia, &[]));
    assert_eq!(error, EditError::RecordDeleted(mad_scene));
    let nobody = EntityId::new_v7(NOW, [5; 10]);
    let error = show.refuse(JANE, |change| change.create_edge(&attends(), nobody, ophelia, &[]));
    assert_eq!(error, EditError::NoSuchRecord(nobody));
}

#[test]
fn deleting_a_relationship_keeps_both_records() {
    let mut show = Show::new();
    let (ophelia, mad_scene, edge) = attendance(&mut show);
    let ((), bundle) = show.edit(JANE, |change| change.delete_edge(edge));
    assert!(matches!(payloads(&bundle).as_slice(), [OpPayload::DeleteEdge { edge: id }] if *id == edge));
    let state = show.state(JANE);
    assert_eq!(state.edge(edge), None);
    assert!(!state.edge_alive(edge));
    assert!(state.edges_of(ophelia).is_empty());
    assert!(state.entity_exists(ophelia) && state.entity_exists(mad_scene));
}

#[test]
fn deleting_a_deleted_or_unknown_relationship_is_refused() {
    let mut show = Show::new();
    let (_, _, edge) = attendance(&mut show);
    show.edit(JANE, |change| change.delete_edge(edge));
    let error = show.refuse(JANE, |change| change.delete_edge(edge));
    assert_eq!(error, EditError::EdgeDeleted(edge));
    let unknown = EdgeId::new_v7(NOW, [4; 10]);
    let error = show.refuse(JANE, |change| change.delete_edge(unknown));
    assert_eq!(error, EditError::NoSuchEdge(unknown));
}

#[test]
fn restoring_a_deleted_relationship_brings_it_back_with_its_properties() {
    let mut show = Show::new();
    let (ophelia, _, edge) = attendance(&mut show);
    show.edit(JANE, |change| change.delete_edge(edge));
    let ((), bundle) = show.edit(JANE, |change| change.restore_edge(edge));
    assert!(matches!(payloads(&bundle).as_slice(), [OpPayload::RestoreEdge { edge: id }] if *id == edge));
    let state = show.state(JANE);
    assert!(state.edge(edge).is_some());
    assert_eq!(state.edges_of(ophelia).len(), 1);
    assert_eq!(state.edge_property(edge, "role").value, Some(text("Ophelia")));
}

#[test]
fn restoring_a_live_or_unknown_relationship_is_refused() {
    let mut show = Show::new();
    let (_, _, edge) = attendance(&mut show);
    let error = show.refuse(JANE, |change| change.restore_edge(edge));
    assert_eq!(error, EditError::EdgeNotDeleted(edge));
    let unknown = EdgeId::new_v7(NOW, [6; 10]);
    let error = show.refuse(JANE, |change| change.restore_edge(unknown));
    assert_eq!(error, EditError::NoSuchEdge(unknown));
}

#[test]
fn setting_and_clearing_a_relationship_property() {
    let mut show = Show::new();
    let (_, _, edge) = attendance(&mut show);
    let ((), set) = show.edit(JANE, |change| change.set_edge_property(edge, "role", Some(text("Mad Ophelia"))));
    match payloads(&set).as_slice() {
        [OpPayload::SetEdgeProperty { edge: id, property, value, replaces }] => {
            assert_eq!((*id, property.as_str(), value), (edge, "role", &Some(text("Mad Ophelia"))));
            assert_eq!(replaces.len(), 1, "it replaces the value given at creation");
        }
        other => panic!("one SetEdgeProperty expected, got {other:?}"),
    }
    let role = show.state(JANE).edge_property(edge, "role");
    assert_eq!(role.value, Some(text("Mad Ophelia")));
    assert!(!role.is_conflicted());

    show.edit(JANE, |change| change.set_edge_property(edge, "role", None));
    assert_eq!(show.state(JANE).edge_property(edge, "role").value, None);
    show.edit(JANE, |change| change.set_edge_property(edge, "confirmed", Some(Value::Boolean(false))));
    assert_eq!(show.state(JANE).edge_property(edge, "confirmed").value, Some(Value::Boolean(false)));
}

#[test]
fn setting_an_undeclared_relationship_property_is_refused() {
    let mut show = Show::new();
    let (_, _, edge) = attendance(&mut show);
    let error = show.refuse(JANE, |change| change.set_edge_property(edge, "entrance", Some(text("SL"))));
    assert_eq!(error, EditError::UnknownEdgeProperty { edge_type: attends(), property: "entrance".into() });
    let error = show.refuse(JANE, |change| change.set_edge_property(edge, "entrance", None));
    assert_eq!(error, EditError::UnknownEdgeProperty { edge_type: attends(), property: "entrance".into() });
}

#[test]
fn setting_a_relationship_property_to_a_value_of_the_wrong_type_is_refused() {
    let mut show = Show::new();
    let (_, _, edge) = attendance(&mut show);
    let error = show.refuse(JANE, |change| change.set_edge_property(edge, "confirmed", Some(number(1.0))));
    assert!(matches!(error, EditError::WrongValue(_)), "{error:?}");
}

#[test]
fn setting_a_property_of_a_deleted_relationship_is_refused() {
    let mut show = Show::new();
    let (_, _, edge) = attendance(&mut show);
    show.edit(JANE, |change| change.delete_edge(edge));
    let error = show.refuse(JANE, |change| change.set_edge_property(edge, "role", Some(text("Ghost"))));
    assert_eq!(error, EditError::EdgeDeleted(edge));
    let unknown = EdgeId::new_v7(NOW, [8; 10]);
    let error = show.refuse(JANE, |change| change.set_edge_property(unknown, "role", Some(text("Ghost"))));
    assert_eq!(error, EditError::NoSuchEdge(unknown));
}

#[test]
fn a_relationship_whose_record_was_deleted_counts_as_deleted() {
    let mut show = Show::new();
    let (ophelia, _, edge) = attendance(&mut show);
    show.edit(JANE, |change| change.delete_record(ophelia));
    let error = show.refuse(JANE, |change| change.set_edge_property(edge, "role", Some(text("Drowned"))));
    assert_eq!(error, EditError::EdgeDeleted(edge));
    let error = show.refuse(JANE, |change| change.delete_edge(edge));
    assert_eq!(error, EditError::EdgeDeleted(edge));
}

#[test]
fn concurrent_edits_of_a_relationship_property_conflict() {
    let mut show = Show::with_crew(&["Jane", "Alex"]);
    let (_, _, edge) = attendance(&mut show);
    show.sync(JANE, ALEX);
    show.edit(JANE, |change| change.set_edge_property(edge, "role", Some(text("Ophelia, mad"))));
    show.edit(ALEX, |change| change.set_edge_property(edge, "role", Some(text("Ophelia, drowned"))));
    show.sync(JANE, ALEX);

    for device in [JANE, ALEX] {
        let role = show.state(device).edge_property(edge, "role");
        assert!(role.is_conflicted(), "device {device}");
        let values: Vec<_> = role.heads.iter().map(|write| write.value.clone()).collect();
        assert_eq!(values, vec![Some(text("Ophelia, mad")), Some(text("Ophelia, drowned"))]);
        assert_eq!(role.value, Some(text("Ophelia, drowned")), "the later write shows");
    }
}
